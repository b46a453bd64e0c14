"""Configuration of the adekd student: a BERT-family encoder plus anchor (drug) and target (ADE) heads.

Single-file style of transformers: this file imports only ``transformers`` so that a saved model
folder loads with ``trust_remote_code=True`` where adekd is not installed.
"""

from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

ARCHITECTURES = ("drug_centric", "no_drug", "pairwise")
FUSIONS = ("mlp", "product", "concat")
BIO_LABELS = ("O", "B", "I")
TASK_FIELDS = ("task", "anchor_type", "anchor_label", "target_type", "target_label", "relation")
"""The task's type names a student carries (``adekd.tasks.TaskSpec.type_names()``; ADE by default)."""


class AdeStudentConfig(PretrainedConfig):
    r"""Configuration of [`AdeStudentForExtraction`].

    The encoder is any BERT-family model; its config is nested under ``encoder`` and the model is
    built with ``AutoModel.from_config(config.encoder)``.

    Args:
        encoder (`dict` or `PretrainedConfig`, *optional*):
            Config of the encoder (a BERT-family model type: bert, roberta, electra, ...). Defaults to a
            BERT-base config; ``AdeStudentForExtraction.from_encoder`` fills it from a checkpoint.
        architecture (`str`, *optional*, defaults to `"drug_centric"`):
            ``"drug_centric"``: the encoder runs once per sentence; each drug mention is mean-pooled
            and fused with every token to tag that drug's ADEs (BIO). ``"no_drug"``: plain ADE NER,
            every ADE attached to every drug of the sentence (ablation). ``"pairwise"``: ADE mentions
            tagged once, then every (drug, ADE mention) pair re-encoded with entity markers and
            classified, one encoder pass per pair (the O(drugs x ADEs) baseline).
        fusion (`str`, *optional*, defaults to `"mlp"`):
            How the drug-centric head combines token state ``h`` with drug vector ``d``:
            ``"mlp"``: a hidden layer over ``[h; d; h*d]``; ``"product"``: a linear layer over
            ``h * P d``; ``"concat"``: a linear layer over ``[h; d]`` (the paper's literal head, which
            cannot tell two drugs of a sentence apart: kept to measure that).
        reencode_per_drug (`bool`, *optional*, defaults to `False`):
            Drug-centric only. Re-run the encoder once per drug with the drug wrapped in marker
            tokens (the paper's "new input sequence for each drug"), then apply the fusion head:
            slower, for measuring what the shared single pass costs in accuracy.
        fusion_hidden_size (`int`, *optional*):
            Width of the ``"mlp"`` fusion layer; defaults to the encoder's hidden size.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on encoder states before every head.
        drug_marker_ids (`list[int]`, *optional*):
            Token ids inserted before and after a drug when a sequence is re-encoded with markers
            (``reencode_per_drug`` and ``"pairwise"``). Set by ``from_encoder`` from the tokenizer.
        ade_marker_ids (`list[int]`, *optional*):
            Token ids inserted before and after the ADE candidate (``"pairwise"``).
        drug_threshold (`float`, *optional*):
            Found drugs scoring below this (mean tag probability) are dropped, with their ADEs,
            unless a caller passes its own. ``adekd train --tune-thresholds`` sets it on dev (0.0
            included, when no cut helps); `None`: never tuned, every span is kept (as with 0.0) and
            the demo's slider starts at its own default. Folders saved before `None` meant "never
            tuned" hold 0.0 either way, and read as tuned to 0.0.
        ade_threshold (`float`, *optional*):
            ADEs scoring below this are dropped, unless a caller passes its own; tuned the same way.
        relation_threshold (`float`, *optional*, defaults to 0.5):
            ``"pairwise"``: a pair is related when its relation probability reaches this.
        drug_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the drug tagger's loss in ``loss``.
        ade_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the ADE loss (drug-centric tags, no-drug tags, or pairwise mention tags plus
            relation loss) in ``loss``.
        marked_batch_size (`int`, *optional*, defaults to 64):
            At most this many marked sequences go through the encoder in one call (bounds memory when
            a long text has many drugs or pairs).
        encoder_name_or_path (`str`, *optional*):
            The pretrained encoder the student started from (for model cards).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initializer of the heads.
        task (`str`, *optional*, defaults to `"ade"`):
            Name of the extraction task the student was trained for (an ``adekd.tasks`` spec). The
            model itself is task-agnostic: anchors play the drugs' part, targets the ADEs'. This and
            the five names below are the task's words, shown by the pipeline output (span ``label``),
            the model card and the demo; a folder saved before tasks existed loads as ADE.
        anchor_type (`str`, *optional*, defaults to `"drug"`):
            The anchor entity in prose.
        anchor_label (`str`, *optional*, defaults to `"DRUG"`):
            The ``label`` of anchor spans in pipeline output.
        target_type (`str`, *optional*, defaults to `"adverse event"`):
            The related spans in prose.
        target_label (`str`, *optional*, defaults to `"ADE"`):
            The ``label`` of target spans in pipeline output.
        relation (`str`, *optional*, defaults to `"caused"`):
            The verb linking an anchor to its targets ("the adverse events each drug caused").
    """

    model_type = "adekd_student"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: dict | PretrainedConfig | None = None
    architecture: str = "drug_centric"
    fusion: str = "mlp"
    reencode_per_drug: bool = False
    fusion_hidden_size: int | None = None
    classifier_dropout: float = 0.1
    drug_marker_ids: list[int] | None = None
    ade_marker_ids: list[int] | None = None
    drug_threshold: float | None = None
    ade_threshold: float | None = None
    relation_threshold: float = 0.5
    drug_loss_weight: float = 1.0
    ade_loss_weight: float = 1.0
    marked_batch_size: int = 64
    encoder_name_or_path: str | None = None
    initializer_range: float = 0.02
    task: str = "ade"
    anchor_type: str = "drug"
    anchor_label: str = "DRUG"
    target_type: str = "adverse event"
    target_label: str = "ADE"
    relation: str = "caused"

    def __post_init__(self, **kwargs):
        if self.id2label is None and "num_labels" not in kwargs:
            self.id2label = dict(enumerate(BIO_LABELS))
            self.label2id = {label: i for i, label in enumerate(BIO_LABELS)}
        super().__post_init__(**kwargs)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.reencode_per_drug and self.architecture != "drug_centric":
            raise ValueError("reencode_per_drug only applies to architecture='drug_centric'")
        for name in ("drug_marker_ids", "ade_marker_ids"):
            ids = getattr(self, name)
            if ids is not None and len(ids) != 2:
                raise ValueError(f"{name} must hold two token ids (before, after), got {ids!r}")
        for name in TASK_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")

    def type_names(self) -> dict[str, str]:
        """The task's words, the keys of :data:`TASK_FIELDS` (as ``adekd.tasks.TaskSpec.type_names()``)."""
        return {name: getattr(self, name) for name in TASK_FIELDS}

    @property
    def needs_markers(self) -> bool:
        """Whether this architecture re-encodes sequences with marker tokens."""
        return self.reencode_per_drug or self.architecture == "pairwise"

    @property
    def num_marker_tokens(self) -> int:
        """How many tokens a marked sequence adds; windows leave room for them."""
        if self.architecture == "pairwise":
            return 4
        return 2 if self.reencode_per_drug else 0


__all__ = ["AdeStudentConfig"]
