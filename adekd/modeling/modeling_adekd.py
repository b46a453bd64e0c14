"""The adekd student: a BERT-family encoder with a drug tagger and a drug-centric ADE tagger.

Single-file style of transformers: this file imports only ``torch`` and ``transformers`` (and its
config, relatively) so that a saved model folder loads with ``trust_remote_code=True`` in a
process where adekd is not installed.

Token spans are ``(start, end)`` token indices, ``end`` exclusive; a padded span has
``end <= start``. Tags are BIO ids ``O=0, B=1, I=2``; ``-100`` marks tokens without a label.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_adekd import AdeStudentConfig

TAG_O, TAG_B, TAG_I = 0, 1, 2
NUM_TAGS = 3
IGNORE_INDEX = -100
DRUG_CHUNK_NUMBERS = 2**25
"""Most numbers one drug chunk's per-token features may hold (128 MB in fp32). The drug-centric head
scores all drugs of a batch together, and a batch of texts naming many drugs (a drug list, an
abstract citing sixty) would otherwise allocate drugs x tokens x 3 x hidden at once: gigabytes."""
_FORBIDDEN = -1e4


@dataclass
class AdeStudentOutput(ModelOutput):
    r"""Output of [`AdeStudentForExtraction.forward`].

    loss (`torch.FloatTensor` of shape `()`, *optional*):
        ``drug_loss_weight * drug_loss + ade_loss_weight * ade_loss`` over the labels given.
    drug_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Cross-entropy of the drug tagger (when ``drug_labels`` are given).
    ade_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Cross-entropy of the ADE head: drug-centric tags, no-drug mention tags, or pairwise mention
        tags plus relation classification.
    drug_logits (`torch.FloatTensor` of shape `(batch, seq_len, 3)`, *optional*):
        BIO scores of drug mentions (absent when drugs were given and no drug labels).
    ade_logits (`torch.FloatTensor` of shape `(batch, num_drugs, seq_len, 3)`, *optional*):
        BIO scores of the ADEs of each drug (``drug_centric``; ``no_drug`` repeats its mention
        scores for every drug). Rows of padded drugs are zero.
    mention_logits (`torch.FloatTensor` of shape `(batch, seq_len, 3)`, *optional*):
        BIO scores of ADE mentions regardless of drug (``no_drug`` and ``pairwise``).
    relation_logits (`torch.FloatTensor` of shape `(batch, num_pairs, 2)`, *optional*):
        ``pairwise``: scores of "drug causes ADE" for each candidate in ``pair_spans``.
    drug_spans (`torch.LongTensor` of shape `(batch, num_drugs, 2)`):
        The drug token spans the ADE head was conditioned on (given, or decoded from the tagger).
    pair_spans (`torch.LongTensor` of shape `(batch, num_pairs, 4)`, *optional*):
        ``pairwise``: the (drug start, drug end, ADE start, ADE end) candidates scored.
    last_hidden_state (`torch.FloatTensor` of shape `(batch, seq_len, hidden)`):
        Encoder output, for distillation or probing.
    """

    loss: torch.FloatTensor | None = None
    drug_loss: torch.FloatTensor | None = None
    ade_loss: torch.FloatTensor | None = None
    drug_logits: torch.FloatTensor | None = None
    ade_logits: torch.FloatTensor | None = None
    mention_logits: torch.FloatTensor | None = None
    relation_logits: torch.FloatTensor | None = None
    drug_spans: torch.LongTensor | None = None
    pair_spans: torch.LongTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


@dataclass
class AdeSpanPrediction(ModelOutput):
    r"""Decoded token spans from [`AdeStudentForExtraction.predict_spans`], padded per sequence.

    drug_spans (`torch.LongTensor` of shape `(batch, num_drugs, 2)`):
        Drug token spans; padding rows have ``end <= start``.
    drug_scores (`torch.FloatTensor` of shape `(batch, num_drugs)`):
        Mean probability of the decoded tags over each drug's tokens (1.0 for given drugs).
    ade_spans (`torch.LongTensor` of shape `(batch, num_ades, 3)`):
        ``(drug index, start, end)`` of each ADE; the drug index points into ``drug_spans`` of the
        same sequence; padding rows have ``end <= start``.
    ade_scores (`torch.FloatTensor` of shape `(batch, num_ades)`):
        Mean tag probability over the ADE's tokens (``pairwise``: times the relation probability).
    """

    drug_spans: torch.LongTensor | None = None
    drug_scores: torch.FloatTensor | None = None
    ade_spans: torch.LongTensor | None = None
    ade_scores: torch.FloatTensor | None = None


# --- span utilities -----------------------------------------------------------------------------


def bio_decode(logits: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best BIO tag path that never puts ``I`` after ``O`` or at the start (Viterbi), per row.

    Greedy argmax produces orphan ``I`` tags whose spans have no clear start; the best valid path
    fixes that (about +2 strict F1 on the ADE corpus). Positions where ``allowed`` is False (special
    tokens, padding) are forced to ``O``.

    Args:
        logits: ``(rows, seq_len, 3)`` BIO scores.
        allowed: ``(rows, seq_len)`` bool, True where a span may be.

    Returns:
        ``(tags, tag_probs)``: ``(rows, seq_len)`` tag ids and the softmax probability of each chosen tag.
    """
    rows, length, _ = logits.shape
    log_probs = logits.float().log_softmax(-1)
    if rows == 0 or length == 0:
        empty = torch.zeros(rows, length, dtype=torch.long, device=logits.device)
        return empty, log_probs.new_zeros(rows, length)
    not_allowed = ~allowed.bool()
    emissions = log_probs.clone()
    emissions[..., TAG_B] = emissions[..., TAG_B].masked_fill(not_allowed, _FORBIDDEN)
    emissions[..., TAG_I] = emissions[..., TAG_I].masked_fill(not_allowed, _FORBIDDEN)
    # Allowed transitions cost nothing, so where the per-token argmax is a valid path it is the best
    # one; the sequential Viterbi runs only for rows with an I after O (or at the start).
    tags = emissions.argmax(-1)
    previous = torch.cat([tags.new_full((rows, 1), TAG_O), tags[:, :-1]], dim=1)
    invalid = ((tags == TAG_I) & (previous == TAG_O)).any(1)
    if invalid.any():
        tags[invalid] = _viterbi(emissions[invalid])
    tag_probs = log_probs.gather(2, tags[..., None]).squeeze(2).exp()
    return tags, tag_probs


def _viterbi(emissions: torch.Tensor) -> torch.Tensor:
    """Best BIO path under "no I after O, none at the start": ``(rows, seq_len, 3)`` -> ``(rows, seq_len)``.

    The step loop runs on NumPy views of CPU tensors: thousands of tiny torch ops would each pay
    the intra-op thread pool's overhead.
    """
    rows, length, _ = emissions.shape
    scores = emissions.detach().float().cpu().numpy()
    transitions = torch.zeros(NUM_TAGS, NUM_TAGS).numpy()  # [previous, current]
    transitions[TAG_O, TAG_I] = _FORBIDDEN
    best = scores[:, 0].copy()
    best[:, TAG_I] += _FORBIDDEN
    backpointers = torch.zeros(rows, length, NUM_TAGS, dtype=torch.long).numpy()
    for position in range(1, length):
        candidates = best[:, :, None] + transitions
        backpointers[:, position] = candidates.argmax(axis=1)
        best = candidates.max(axis=1) + scores[:, position]
    tags = torch.zeros(rows, length, dtype=torch.long)
    path = tags.numpy()
    path[:, -1] = best.argmax(axis=1)
    row_index = torch.arange(rows).numpy()
    for position in range(length - 1, 0, -1):
        path[:, position - 1] = backpointers[row_index, position, path[:, position]]
    return tags.to(emissions.device)


def bio_spans(tags: torch.Tensor, tag_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spans of a valid BIO tag matrix: each ``B`` and the ``I`` run after it.

    Returns ``(rows, spans, scores)``: the row of each span, ``(num_spans, 2)`` token spans, and the
    mean tag probability over each span (sorted by row, then start).
    """
    num_rows, length = tags.shape
    rows, starts = (tags == TAG_B).nonzero(as_tuple=True)
    positions = torch.arange(length, device=tags.device).expand(num_rows, length)
    breaks = torch.where(tags != TAG_I, positions, length)
    breaks = torch.cat([breaks, breaks.new_full((num_rows, 1), length)], dim=1)
    next_break = breaks.flip(1).cummin(1).values.flip(1)  # first non-I position at or after each index
    ends = next_break[rows, starts + 1]
    cumulative = torch.cat([tag_probs.new_zeros(num_rows, 1), tag_probs.cumsum(1)], dim=1)
    scores = (cumulative[rows, ends] - cumulative[rows, starts]) / (ends - starts)
    return rows, torch.stack([starts, ends], dim=1), scores


def row_slots(rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Position of each item within its row, for items sorted by row."""
    counts = torch.bincount(rows, minlength=num_rows)
    first = torch.cumsum(counts, 0) - counts
    return torch.arange(rows.numel(), device=rows.device) - first[rows]


def scatter_rows(
    rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor, num_rows: int
) -> torch.Tensor:
    """Place ``values[i]`` at ``[rows[i], slots[i]]`` of a zero-padded ``(num_rows, width, ...)`` tensor."""
    width = int(slots.max()) + 1 if slots.numel() else 0
    out = values.new_zeros((num_rows, width, *values.shape[1:]))
    out[rows, slots] = values
    return out


def valid_spans(spans: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(row, column)`` of the non-padding spans of a ``(batch, n, 2+)`` span tensor (``end > start``)."""
    return (spans[..., -1] > spans[..., -2]).nonzero(as_tuple=True)


def span_mean(states: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Mean of ``states[i, start:end]`` per row: ``(n, seq_len, hidden)``, ``(n, 2)`` -> ``(n, hidden)``."""
    positions = torch.arange(states.shape[1], device=states.device)
    inside = (positions >= spans[:, :1]) & (positions < spans[:, 1:])
    weights = inside.to(states.dtype) / (spans[:, 1:] - spans[:, :1]).clamp(min=1).to(states.dtype)
    return torch.bmm(weights[:, None, :], states).squeeze(1)


def insert_markers(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    positions: torch.Tensor,
    marker_ids: torch.Tensor,
    closes: torch.Tensor,
    pad_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Insert marker tokens into token sequences, all rows at once.

    Args:
        input_ids, attention_mask: ``(n, seq_len)``.
        positions: ``(n, k)`` insertion points: marker ``j`` goes before original token ``positions[:, j]``.
        marker_ids: ``(k,)`` token id of each marker.
        closes: ``(k,)`` bool, True for markers that close a span; at a shared insertion point they
            go before markers that open one, so adjacent spans stay properly nested.
        pad_token_id: id for the padding the longer sequences get.

    Returns:
        ``(ids, mask, token_positions, marker_positions)``: ``(n, seq_len + k)`` marked sequences, the new
        position of every original token ``(n, seq_len)`` and of every marker ``(n, k)``.
    """
    rows, length = input_ids.shape
    count = positions.shape[1]
    device = input_ids.device
    original = torch.arange(length, device=device)
    token_positions = original + (positions[:, None, :] <= original[None, :, None]).sum(-1)
    order_key = positions * (2 * count) + (~closes).long() * count + torch.arange(count, device=device)
    marker_positions = positions + (order_key[:, None, :] < order_key[:, :, None]).sum(-1)
    ids = input_ids.new_full((rows, length + count), pad_token_id)
    ids.scatter_(1, token_positions, input_ids)
    ids.scatter_(1, marker_positions, marker_ids.expand(rows, count))
    mask = attention_mask.new_zeros((rows, length + count))
    mask.scatter_(1, token_positions, attention_mask)
    mask.scatter_(1, marker_positions, 1)
    return ids, mask, token_positions, marker_positions


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over labelled positions; zero (with gradient) when nothing is labelled."""
    labels = labels.reshape(-1)
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return nn.functional.cross_entropy(
        logits.reshape(labels.numel(), -1).float(), labels, ignore_index=IGNORE_INDEX
    )


# --- heads --------------------------------------------------------------------------------------


class DrugTokenFusion(nn.Module):
    """Scores every token as B/I/O of the ADEs caused by one drug.

    The drug vector must interact with each token: a linear layer over ``[h; d]`` adds the same
    drug term to every token of the sentence, so it cannot tell which drug an ADE belongs to
    (``fusion="concat"`` keeps that head only to measure it).
    """

    def __init__(self, config: AdeStudentConfig):
        super().__init__()
        hidden = config.encoder.hidden_size
        self.fusion = config.fusion
        if self.fusion == "mlp":
            inner = config.fusion_hidden_size or hidden
            self.proj = nn.Linear(3 * hidden, inner)
            self.act = nn.GELU()
            self.classifier = nn.Linear(inner, NUM_TAGS)
        elif self.fusion == "product":
            self.proj = nn.Linear(hidden, hidden)
            self.classifier = nn.Linear(hidden, NUM_TAGS)
        else:
            self.classifier = nn.Linear(2 * hidden, NUM_TAGS)

    def forward(self, tokens: torch.Tensor, drugs: torch.Tensor) -> torch.Tensor:
        """``tokens (n, seq_len, hidden)`` and ``drugs (n, hidden)`` -> logits ``(n, seq_len, 3)``."""
        drug = drugs[:, None, :].expand_as(tokens)
        if self.fusion == "mlp":
            features = self.act(self.proj(torch.cat([tokens, drug, tokens * drug], dim=-1)))
        elif self.fusion == "product":
            features = tokens * self.proj(drugs)[:, None, :]
        else:
            features = torch.cat([tokens, drug], dim=-1)
        return self.classifier(features)


# --- model --------------------------------------------------------------------------------------


class AdeStudentPreTrainedModel(PreTrainedModel):
    config_class = AdeStudentConfig
    config: AdeStudentConfig
    base_model_prefix = "student"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module):
        super()._init_weights(module)
        encoder = getattr(self, "encoder", None)
        if encoder is not None and module in encoder.modules():
            encoder._init_weights(module)


class AdeStudentForExtraction(AdeStudentPreTrainedModel):
    """Finds drugs and the ADEs each drug causes, with one encoder pass per sentence.

    Heads (their module names are what LoRA's ``modules_to_save`` needs, see ``head_module_names``):
    ``drug_tagger`` (BIO over tokens), and by ``config.architecture``: ``ade_head`` (drug-centric
    fusion), ``mention_tagger`` (no-drug and pairwise ADE mentions), ``relation_head`` (pairwise).
    """

    def __init__(self, config: AdeStudentConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # unused: no pooled output, no dead parameters under DDP
        config.encoder._attn_implementation = self.encoder.config._attn_implementation
        self.encoder.config = config.encoder
        hidden = config.encoder.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.drug_tagger = nn.Linear(hidden, NUM_TAGS)
        if config.architecture == "drug_centric":
            self.ade_head = DrugTokenFusion(config)
        else:
            self.mention_tagger = nn.Linear(hidden, NUM_TAGS)
        if config.architecture == "pairwise":
            self.relation_head = nn.Linear(3 * hidden, 2)
        if config.needs_markers and (
            config.drug_marker_ids is None
            or (config.architecture == "pairwise" and config.ade_marker_ids is None)
        ):
            raise ValueError(
                "this architecture re-encodes sequences with marker tokens: set config.drug_marker_ids "
                "(and ade_marker_ids for 'pairwise'), or build the student with from_encoder()"
            )
        self.post_init()

    @property
    def head_module_names(self) -> tuple[str, ...]:
        """Names of the trainable heads: what LoRA must put in ``modules_to_save``."""
        names = {
            "drug_centric": ("drug_tagger", "ade_head"),
            "no_drug": ("drug_tagger", "mention_tagger"),
            "pairwise": ("drug_tagger", "mention_tagger", "relation_head"),
        }
        return names[self.config.architecture]

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    @classmethod
    def from_encoder(
        cls, encoder_name_or_path: str, tokenizer=None, revision: str | None = None, **config_kwargs
    ) -> "AdeStudentForExtraction":
        """An untrained student whose encoder holds the pretrained weights of ``encoder_name_or_path``
        (at ``revision``: a branch, tag or commit of a Hub id).

        Marker tokens for re-encoded sequences default to ``$`` around drugs and ``#`` around ADE
        candidates (R-BERT style), which every BERT-family vocabulary has; the heads start random.
        """
        encoder = AutoModel.from_pretrained(encoder_name_or_path, revision=revision)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(encoder_name_or_path, revision=revision)
        for name, marker in (("drug_marker_ids", "$"), ("ade_marker_ids", "#")):
            if config_kwargs.get(name) is None:
                ids = tokenizer(f" {marker}", add_special_tokens=False)["input_ids"]
                if len(ids) == 1 and ids[0] != tokenizer.unk_token_id:
                    config_kwargs[name] = [ids[0], ids[0]]
        config_kwargs.setdefault("encoder_name_or_path", str(encoder_name_or_path))
        encoder_config = encoder.config.to_dict()
        encoder_config.pop("_name_or_path", None)  # a local path is no part of the architecture
        config = AdeStudentConfig(encoder=encoder_config, **config_kwargs)
        model = cls(config)
        missing, _ = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
        if missing:
            raise ValueError(f"encoder checkpoint {encoder_name_or_path!r} lacks weights: {missing[:5]}")
        return model

    # --- building blocks ----------------------------------------------------------------------

    def _encode(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    def _encode_marked(self, input_ids, attention_mask, rows, positions, marker_ids, closes):
        """Encode ``input_ids[rows]`` with markers inserted, in chunks of ``marked_batch_size`` sequences.

        Returns the encoder states at the original tokens ``(n, seq_len, hidden)`` and at the markers
        ``(n, k, hidden)``, plus the states at ``[CLS]`` ``(n, hidden)``.
        """
        markers = torch.tensor(marker_ids, device=input_ids.device)
        closes = torch.tensor(closes, device=input_ids.device)
        pad = self.config.encoder.pad_token_id or 0
        token_states, marker_states, cls_states = [], [], []
        chunks = torch.arange(rows.numel(), device=rows.device).split(self.config.marked_batch_size)
        for chunk in chunks if rows.numel() else ():
            ids, mask, token_pos, marker_pos = insert_markers(
                input_ids[rows[chunk]], attention_mask[rows[chunk]], positions[chunk], markers, closes, pad
            )
            states = self.dropout(self._encode(ids, mask))
            token_states.append(states.gather(1, token_pos[..., None].expand(-1, -1, states.shape[-1])))
            marker_states.append(states.gather(1, marker_pos[..., None].expand(-1, -1, states.shape[-1])))
            cls_states.append(states[:, 0])
        if not token_states:  # nothing to encode: empty states in the encoder's dtype
            empty = self.get_input_embeddings().weight.new_zeros(0, self.config.encoder.hidden_size)
            return (
                empty[:, None].expand(0, input_ids.shape[1], -1),
                empty[:, None].expand(0, len(marker_ids), -1),
                empty,
            )
        return torch.cat(token_states), torch.cat(marker_states), torch.cat(cls_states)

    def _drug_ade_logits(self, hidden, input_ids, attention_mask, rows, spans) -> torch.Tensor:
        """Drug-centric ADE logits ``(n, seq_len, 3)`` for drug ``spans (n, 2)`` of sequences ``rows (n,)``.

        Batched over the drugs, in chunks of at most :data:`DRUG_CHUNK_NUMBERS` feature numbers: the
        sentence states are gathered per drug (no encoder call) unless ``reencode_per_drug``, which
        encodes the marked copies of a chunk in one batched call.
        """
        step = max(1, DRUG_CHUNK_NUMBERS // (input_ids.shape[1] * 3 * hidden.shape[-1]))
        if len(rows) <= step:
            return self._drug_chunk_logits(hidden, input_ids, attention_mask, rows, spans)
        return torch.cat(
            [
                self._drug_chunk_logits(
                    hidden, input_ids, attention_mask, rows[i : i + step], spans[i : i + step]
                )
                for i in range(0, len(rows), step)
            ]
        )

    def _drug_chunk_logits(self, hidden, input_ids, attention_mask, rows, spans) -> torch.Tensor:
        if self.config.reencode_per_drug:
            tokens, _, _ = self._encode_marked(
                input_ids, attention_mask, rows, spans, self.config.drug_marker_ids, (False, True)
            )
        else:
            tokens = hidden[rows]
        return self.ade_head(tokens, span_mean(tokens, spans))

    def _relation_logits(self, input_ids, attention_mask, rows, pairs) -> torch.Tensor:
        """Pairwise relation logits ``(n, 2)`` for ``pairs (n, 4)`` = drug span, ADE span of ``rows``."""
        marker_ids = (*self.config.drug_marker_ids, *self.config.ade_marker_ids)
        _, markers, cls = self._encode_marked(
            input_ids, attention_mask, rows, pairs, marker_ids, (False, True, False, True)
        )
        return self.relation_head(torch.cat([cls, markers[:, 0], markers[:, 2]], dim=-1))

    def _allowed(self, input_ids, attention_mask, special_tokens_mask) -> torch.Tensor:
        allowed = (
            torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        )
        if special_tokens_mask is not None:
            allowed = allowed & ~special_tokens_mask.bool()
        return allowed

    @staticmethod
    def _pad_spans(rows, spans, num_rows) -> torch.Tensor:
        return scatter_rows(rows, row_slots(rows, num_rows), spans, num_rows)

    # --- forward ------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        special_tokens_mask: torch.LongTensor | None = None,
        drug_spans: torch.LongTensor | None = None,
        drug_labels: torch.LongTensor | None = None,
        ade_labels: torch.LongTensor | None = None,
        mention_labels: torch.LongTensor | None = None,
        pair_spans: torch.LongTensor | None = None,
        relation_labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> AdeStudentOutput:
        r"""Scores drugs and ADEs; returns losses for the labels given.

        Args:
            input_ids, attention_mask, token_type_ids (`(batch, seq_len)`): as for any BERT model.
            special_tokens_mask (`(batch, seq_len)`, *optional*): 1 on ``[CLS]``, ``[SEP]``, padding:
                tokens that are never part of a span when drugs are decoded here.
            drug_spans (`(batch, num_drugs, 2)`, *optional*): drug token spans to condition the ADE
                head on (gold drugs in training, given drugs at inference). Decoded from the drug
                tagger when absent.
            drug_labels (`(batch, seq_len)`, *optional*): BIO of drug mentions.
            ade_labels (`(batch, num_drugs, seq_len)`, *optional*): BIO of the ADEs of each drug in
                ``drug_spans`` (``drug_centric``).
            mention_labels (`(batch, seq_len)`, *optional*): BIO of all ADE mentions (``no_drug``,
                ``pairwise``).
            pair_spans (`(batch, num_pairs, 4)`, *optional*): ``pairwise`` candidates (drug start,
                drug end, ADE start, ADE end); built from the decoded mentions and drugs when absent.
            relation_labels (`(batch, num_pairs)`, *optional*): 1 if the pair's drug caused its ADE,
                0 if not, -100 for padding (``pairwise``).
        """
        config = self.config
        batch, length = input_ids.shape
        states = self._encode(input_ids, attention_mask, token_type_ids)
        hidden = self.dropout(states)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        drug_logits = None
        if drug_spans is None or drug_labels is not None:
            drug_logits = self.drug_tagger(hidden)
        if drug_spans is None:
            if ade_labels is not None or relation_labels is not None:
                raise ValueError("ade_labels and relation_labels need the drug_spans they belong to")
            allowed = self._allowed(input_ids, attention_mask, special_tokens_mask)
            with torch.no_grad():
                rows, spans, _ = bio_spans(*bio_decode(drug_logits, allowed))
            drug_spans = self._pad_spans(rows, spans, batch)
        drug_loss = None if drug_labels is None else token_loss(drug_logits, drug_labels)

        rows, cols = valid_spans(drug_spans)
        ade_logits = mention_logits = relation_logits = ade_loss = None
        if config.architecture == "drug_centric":
            pair_logits = self._drug_ade_logits(
                hidden, input_ids, attention_mask, rows, drug_spans[rows, cols]
            )
            ade_logits = pair_logits.new_zeros(batch, drug_spans.shape[1], length, NUM_TAGS)
            ade_logits[rows, cols] = pair_logits
            if ade_labels is not None:
                ade_loss = token_loss(pair_logits, ade_labels[rows, cols])
        else:
            mention_logits = self.mention_tagger(hidden)
            if mention_labels is not None:
                ade_loss = token_loss(mention_logits, mention_labels)
        if config.architecture == "no_drug":
            ade_logits = mention_logits[:, None].expand(batch, drug_spans.shape[1], length, NUM_TAGS)
        if config.architecture == "pairwise":
            if pair_spans is None:
                if relation_labels is not None:
                    raise ValueError("relation_labels need the pair_spans they belong to")
                allowed = self._allowed(input_ids, attention_mask, special_tokens_mask)
                with torch.no_grad():
                    mention_rows, mentions, _ = bio_spans(*bio_decode(mention_logits, allowed))
                pair_rows, drug_index, mention_index = self._candidate_pairs(rows, mention_rows)
                pairs = torch.cat([drug_spans[rows, cols][drug_index], mentions[mention_index]], dim=1)
                pair_spans = self._pad_spans(pair_rows, pairs, batch)
            pair_rows, pair_cols = valid_spans(pair_spans)
            flat_logits = self._relation_logits(
                input_ids, attention_mask, pair_rows, pair_spans[pair_rows, pair_cols]
            )
            relation_logits = flat_logits.new_zeros(batch, pair_spans.shape[1], 2)
            relation_logits[pair_rows, pair_cols] = flat_logits
            if relation_labels is not None:
                relation_loss = token_loss(flat_logits, relation_labels[pair_rows, pair_cols])
                ade_loss = relation_loss if ade_loss is None else ade_loss + relation_loss

        loss = None
        if drug_loss is not None or ade_loss is not None:
            loss = sum(
                weight * part
                for weight, part in ((config.drug_loss_weight, drug_loss), (config.ade_loss_weight, ade_loss))
                if part is not None
            )
        return AdeStudentOutput(
            loss=loss,
            drug_loss=drug_loss,
            ade_loss=ade_loss,
            drug_logits=drug_logits,
            ade_logits=ade_logits,
            mention_logits=mention_logits,
            relation_logits=relation_logits,
            drug_spans=drug_spans,
            pair_spans=pair_spans,
            last_hidden_state=states,
        )

    @staticmethod
    def _candidate_pairs(drug_rows, mention_rows):
        """Every (drug, mention) of the same sequence: ``(rows, drug index, mention index)``."""
        drug_index, mention_index = (drug_rows[:, None] == mention_rows[None, :]).nonzero(as_tuple=True)
        return drug_rows[drug_index], drug_index, mention_index

    # --- inference ----------------------------------------------------------------------------

    def predict_spans(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        special_tokens_mask: torch.LongTensor | None = None,
        drug_spans: torch.LongTensor | None = None,
        find_drugs: torch.BoolTensor | None = None,
    ) -> AdeSpanPrediction:
        """Decode drug and ADE token spans (best valid BIO paths) with one encoder pass per sequence.

        Args:
            drug_spans (`(batch, num_drugs, 2)`, *optional*): given drug spans; the drug tagger is
                skipped for sequences that have them.
            find_drugs (`(batch,)` bool, *optional*): sequences whose drugs the tagger should find
                even though ``drug_spans`` is given (mixed batches). Defaults to all sequences when
                ``drug_spans`` is None, none otherwise.
        """
        config = self.config
        batch = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        allowed = self._allowed(input_ids, attention_mask, special_tokens_mask)
        hidden = self.dropout(self._encode(input_ids, attention_mask, token_type_ids))
        if find_drugs is None:
            find_drugs = torch.full((batch,), drug_spans is None, dtype=torch.bool, device=input_ids.device)
        if drug_spans is None:
            drug_spans = input_ids.new_zeros(batch, 0, 2)

        given_rows, given_cols = valid_spans(drug_spans)
        keep = ~find_drugs[given_rows]
        given_rows, given_cols = given_rows[keep], given_cols[keep]
        drug_rows, drug_cols = [given_rows], [given_cols]
        spans, scores = [drug_spans[given_rows, given_cols]], [hidden.new_ones(given_rows.numel())]
        if find_drugs.any():
            found = find_drugs.nonzero(as_tuple=True)[0]
            tag_rows, tag_spans, tag_scores = bio_spans(
                *bio_decode(self.drug_tagger(hidden[found]), allowed[found])
            )
            drug_rows.append(found[tag_rows])
            drug_cols.append(row_slots(tag_rows, found.numel()))
            spans.append(tag_spans)
            scores.append(tag_scores)
        rows, cols = torch.cat(drug_rows), torch.cat(drug_cols)
        spans, scores = torch.cat(spans), torch.cat(scores).to(hidden.dtype)

        if config.architecture == "drug_centric":
            logits = self._drug_ade_logits(hidden, input_ids, attention_mask, rows, spans)
            ade_pairs, ade_spans, ade_scores = bio_spans(*bio_decode(logits, allowed[rows]))
            ade_rows, ade_drugs = rows[ade_pairs], cols[ade_pairs]
        else:
            mention_rows, mentions, mention_scores = bio_spans(
                *bio_decode(self.mention_tagger(hidden), allowed)
            )
            ade_rows, drug_index, mention_index = self._candidate_pairs(rows, mention_rows)
            ade_drugs, ade_spans = cols[drug_index], mentions[mention_index]
            ade_scores = mention_scores[mention_index]
            if config.architecture == "pairwise":
                pairs = torch.cat([spans[drug_index], ade_spans], dim=1)
                related = (
                    self._relation_logits(input_ids, attention_mask, ade_rows, pairs)
                    .float()
                    .softmax(-1)[:, 1]
                )
                keep = related >= config.relation_threshold
                ade_rows, ade_drugs, ade_spans = ade_rows[keep], ade_drugs[keep], ade_spans[keep]
                ade_scores = ade_scores[keep] * related[keep]

        order = torch.argsort(
            (ade_rows * (cols.max() + 1 if cols.numel() else 1) + ade_drugs) * (input_ids.shape[1] + 1)
            + ade_spans[:, 0]
        )
        ade_rows = ade_rows[order]
        ade_values = torch.cat([ade_drugs[order, None], ade_spans[order]], dim=1)
        return AdeSpanPrediction(
            drug_spans=scatter_rows(rows, cols, spans, batch),
            drug_scores=scatter_rows(rows, cols, scores.float(), batch),
            ade_spans=scatter_rows(ade_rows, row_slots(ade_rows, batch), ade_values, batch),
            ade_scores=scatter_rows(ade_rows, row_slots(ade_rows, batch), ade_scores.float()[order], batch),
        )


__all__ = ["AdeSpanPrediction", "AdeStudentForExtraction", "AdeStudentOutput", "AdeStudentPreTrainedModel"]
