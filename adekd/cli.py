"""The ``adekd`` command. Thin on purpose: each subcommand parses flags and calls the library.

Each subcommand lives in one ``_add_<name>`` function that declares its flags and sets ``func``;
the library imports happen inside the handlers, so a command loads only what it runs (datasets,
Accelerate, the teacher clients). ``import adekd`` itself loads torch and transformers, to register
the student with the Auto classes, and that sets the floor of every command's start-up, ``--help``
included (a few seconds).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence


class CLIError(Exception):
    """An error the user can fix: printed as one line, no stack trace, exit status 2."""


def _score(text: str) -> float:
    """argparse type of a span score threshold: a probability, so ``5`` typed for ``.5`` is refused
    instead of silently dropping every span."""
    from adekd.modeling.pipeline_adekd import check_threshold  # extract loads it next anyway

    try:
        return check_threshold("the threshold", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text!r}") from None


def _at_least(minimum: int, why: str) -> Callable[[str], int]:
    """argparse type of a whole number with a lower bound, so the flag (not the input) is named."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of at least {minimum} ({why}), got {text!r}"
            )
        return value

    return parse


def _check_output_file(flag: str, path: str) -> None:
    """Refuse an output file path that cannot be written (a folder, a path under a file) before any
    long work, naming the flag: otherwise it fails at the very end with a traceback."""
    from adekd.outputs import check_output_file

    try:
        check_output_file(path)
    except OSError as err:
        raise CLIError(f"{flag} {path}: {err}") from None


def _write_text(flag: str, path: str, text: str) -> None:
    """Write an output file (parent folders created), naming the flag if it fails."""
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        raise CLIError(f"{flag} {path}: {err}") from None


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="inspect corpora")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", required=True)
    stats = corpus_sub.add_parser(
        "stats",
        help="count records, drugs, ADEs and relations of a corpus",
        description="Count records, drug mentions, ADE mentions and drug->ADE relations. PATH is the ADE "
        "corpus folder (DRUG-AE.rel, ADE-NEG.txt), a SpERT split JSON, a PubTator file, a records "
        "JSONL, a text JSONL or plain text file (one text per line), a dataset folder or a Hub dataset id. "
        "With --task chemical-disease a BC5CDR PubTator file counts its labeled sentence records and what "
        "the document -> sentence conversion loses.",
    )
    stats.add_argument("path", help="corpus file, folder or Hub dataset id")
    stats.add_argument("--split", help="split of a dataset folder or Hub dataset with several")
    stats.add_argument(
        "--task",
        help="task name or spec file: its words label the counts, and a PubTator file of a task with a "
        "'pubtator' section (chemical-disease) is read as labeled records",
    )
    stats.add_argument("--json", dest="json_out", help="also write the counts to this JSON file")
    stats.set_defaults(func=_run_corpus_stats)


def _run_corpus_stats(args: argparse.Namespace) -> None:
    import json

    from adekd.corpora import CorpusError, conversion_stats, corpus_stats, detect_source, load_records
    from adekd.records import RecordError
    from adekd.tasks import TaskError, load_task

    if args.json_out:
        _check_output_file("--json", args.json_out)
    try:
        task = load_task(args.task) if args.task else None
        kind = detect_source(args.path)
        stats = corpus_stats(load_records(args.path, split=args.split, task=task))
        converted = kind == "pubtator" and task is not None and task.pubtator is not None
        conversion = conversion_stats(args.path, task).as_dict() if converted else None
    except (CorpusError, RecordError, TaskError) as err:
        raise CLIError(str(err)) from None
    counts = stats.as_dict()
    print(f"{args.path} ({kind})")
    for name, value in counts.items():
        label = name.replace("_", " ")
        if task is not None:
            label = label.replace("drug", task.anchor.name).replace("ade", task.target.name)
        print(f"  {label:<18} {'unknown' if value is None else f'{value:,}'}")
    if conversion is not None:
        print("  document -> sentence conversion:")
        for name, value in conversion.items():
            print(f"    {name.replace('_', ' '):<28} {value:,}")
    if args.json_out:
        extra = {"task": task.name} if task is not None else {}
        extra |= {"conversion": conversion} if conversion is not None else {}
        summary = {"source": str(args.path), "kind": kind, **counts, **extra}
        _write_text("--json", args.json_out, json.dumps(summary, indent=2) + "\n")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="score predictions against gold records with the ade_f1 metric",
        description="Score predicted records against gold records: strict and lenient precision, recall "
        "and F1 of (drug, ADE) pairs, drug mentions and ADE mentions, micro-averaged over sentences. "
        "Records are matched by id, in any order; a gold record with no prediction counts as an empty "
        "prediction. Both sides are any source `adekd corpus stats` reads (records JSONL, dataset "
        "folder, SpERT split JSON, ADE corpus folder), so teacher output scores the same way. With --task "
        "the table names its rows in the task's words and a PubTator file of a task with a 'pubtator' "
        "section (chemical-disease: BC5CDR) is read as that task's gold records.",
    )
    evaluate.add_argument("--predictions", required=True, help="predicted records (JSONL or dataset folder)")
    evaluate.add_argument(
        "--references",
        required=True,
        help="gold records (JSONL, dataset folder, SpERT JSON, ADE corpus folder, PubTator with --task)",
    )
    evaluate.add_argument(
        "--task",
        metavar="NAME_OR_FILE",
        help="the task scored: a built-in task (ade, chemical-disease) or a task spec file (default: ade)",
    )
    evaluate.add_argument("--output", help="write the results as JSON to this file")
    evaluate.add_argument(
        "--per-record", action="store_true", help="include each sentence's TP/FP/FN lists in the JSON output"
    )
    evaluate.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    import json

    from adekd.corpora import detect_source, load_records
    from adekd.corpora.loading import reads_labels
    from adekd.metrics import format_table, score
    from adekd.tasks import TaskError, load_task
    from adekd.tasks.words import TaskWords

    if args.output:
        _check_output_file("--output", args.output)
    try:
        task = load_task(args.task) if args.task else None
    except TaskError as err:
        raise CLIError(f"--task: {err}") from None
    try:
        for flag, source in (("--references", args.references), ("--predictions", args.predictions)):
            if not reads_labels(source, task):
                hint = (
                    "a task whose spec maps its annotations reads them (--task chemical-disease)"
                    if detect_source(source) == "pubtator"
                    else "give records in the shape adekd writes"
                )
                raise CLIError(
                    f'{flag} {source} holds texts without labels (no record has "drugs" or "ades"): {hint}'
                )
        references = load_records(args.references, task=task)
        predictions = load_records(args.predictions, task=task)
    except ValueError as err:  # CorpusError and RecordError name the file, line or record
        raise CLIError(str(err)) from None
    try:
        results = score(predictions, references, return_per_record=args.per_record)
    except ValueError as err:
        raise CLIError(
            f"--predictions {args.predictions} against --references {args.references}: {err}"
        ) from None
    words = TaskWords.of(task)
    print(format_table(results, words.anchor, words.target))
    if args.output:
        named = {"task": task.name} if task is not None else {}
        results = {"predictions": args.predictions, "references": args.references, **named, **results}
        _write_text("--output", args.output, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        logging.getLogger("adekd.cli").info("wrote %s", args.output)


def _add_publish(sub: argparse._SubParsersAction) -> None:
    publish = sub.add_parser(
        "publish",
        help="write a silver dataset or student as a Hub repo folder with its card, and optionally upload it",
        description="Turn a silver dataset folder (from `adekd label`) or a student folder (from `adekd "
        "train`) into a folder laid out exactly like its Hub repo: README.md card generated from what the "
        "run recorded, parquet shards or weights, and the code files trust_remote_code loads. With "
        "--push-to-hub the same folder is uploaded in one commit (token from HF_TOKEN or `hf auth login`).",
    )
    publish.add_argument("source", metavar="DIR", help="silver dataset folder or student folder")
    publish.add_argument("--output", required=True, metavar="REPO_DIR", help="folder to write the repo to")
    publish.add_argument("--overwrite", action="store_true", help="replace REPO_DIR if it is not empty")
    publish.add_argument(
        "--push-to-hub", metavar="REPO_ID", help="also upload to this Hub repo (NAMESPACE/NAME or NAME)"
    )
    publish.add_argument("--private", action="store_true", help="create the Hub repo private")
    publish.add_argument("--revision", help="branch to commit to (created from main if missing)")
    publish.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    publish.add_argument(
        "--license", help="license id for the card (default: unknown for datasets, apache-2.0 for students)"
    )
    card = publish.add_argument_group("dataset card")
    card.add_argument("--pretty-name", help="dataset title on the Hub")
    card.add_argument(
        "--gold", help="gold corpus of the same sentences: the card reports the teacher's F1 against it"
    )
    card = publish.add_argument_group("model card")
    card.add_argument("--base-model", help="Hub id of the encoder (default: read from metrics.json)")
    card.add_argument("--dataset-id", help="Hub id of the training data (default: read from metrics.json)")
    card.add_argument(
        "--include-adapter",
        action="store_true",
        help="also publish the LoRA adapter (adapter/), beside the merged weights",
    )
    publish.add_argument(
        "--task",
        help="the task the card names: a built-in task or a task spec file (default: the task the folder "
        "recorded; needed for a task of your own known only by name)",
    )
    publish.set_defaults(func=_run_publish)


def _run_publish(args: argparse.Namespace) -> None:
    from adekd.hub import PublishError, publish

    try:
        result = publish(
            args.source,
            args.output,
            push_to_hub=args.push_to_hub,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            overwrite=args.overwrite,
            license=args.license,
            pretty_name=args.pretty_name,
            gold=args.gold,
            base_model=args.base_model,
            dataset_id=args.dataset_id,
            include_adapter=args.include_adapter,
            task=args.task,
        )
    except (PublishError, OSError) as err:
        raise CLIError(str(err)) from None
    print(f"{result.kind} repo folder: {result.folder}")
    if result.url:
        print(f"uploaded: {result.url}")


def _add_student(sub: argparse._SubParsersAction) -> None:
    student = sub.add_parser("student", help="create student models")
    student_sub = student.add_subparsers(dest="student_command", required=True)
    init = student_sub.add_parser(
        "init",
        help="write an untrained student (pretrained encoder, random heads) and its tokenizer",
        description="Write an untrained student folder: the start of `adekd train` and of speed benchmarks. "
        "It loads with transformers' AutoModel after `import adekd`, or with trust_remote_code=True.",
    )
    init.add_argument(
        "--encoder",
        help="BERT-family encoder, path or Hub id (default: microsoft/BiomedNLP-BiomedBERT-base-uncased-"
        "abstract-fulltext); 'minilm' for the MiniLM packaged with adekd (offline)",
    )
    init.add_argument("--output", required=True, help="folder to write")
    init.add_argument(
        "--architecture",
        choices=("drug_centric", "no_drug", "pairwise"),
        default="drug_centric",
        help="drug_centric (the paper's student), or a baseline: no_drug (ADE NER attached to every drug), "
        "pairwise (one marked encoder pass per drug/ADE pair)",
    )
    init.add_argument(
        "--fusion",
        choices=("mlp", "product", "concat"),
        default="mlp",
        help="how the drug vector meets each token: mlp over [h; d; h*d], h * P d, or the plain [h; d] "
        "(ablation)",
    )
    init.add_argument(
        "--reencode-per-drug",
        action="store_true",
        help="drug_centric: re-encode the sentence once per drug with the drug marked (slower ablation)",
    )
    init.add_argument(
        "--task",
        help="the task it will extract: a built-in task (ade, chemical-disease) or a task spec file; its "
        "type names go into the config (default: ade)",
    )
    init.set_defaults(func=_run_student_init)


def _run_student_init(args: argparse.Namespace) -> None:
    from adekd.modeling import init_student
    from adekd.modeling.student import check_new_student_folder
    from adekd.tasks import TaskError, load_task

    try:
        check_new_student_folder(args.output)
    except OSError as err:
        raise CLIError(f"--output {err}") from None
    try:
        task = load_task(args.task)
    except TaskError as err:
        raise CLIError(f"--task: {err}") from None
    try:
        folder = init_student(
            args.output,
            args.encoder,
            task=task,
            architecture=args.architecture,
            fusion=args.fusion,
            reencode_per_drug=args.reencode_per_drug,
        )
    except (OSError, ValueError) as err:
        raise CLIError(f"--encoder {args.encoder or 'default'}: {err}") from None
    print(folder)


def _add_extract(sub: argparse._SubParsersAction) -> None:
    extract = sub.add_parser(
        "extract",
        help="extract drugs and their ADEs from texts with a student",
        description="Run a student over texts and write one JSONL record per text, in input order. IN is "
        "any source `adekd corpus stats` reads: a text file (one text per line), a JSONL of texts, a "
        "PubTator file, or records (JSONL with drugs, SpERT JSON, dataset folder), whose non-empty "
        "drugs are used as given and other fields kept. Text, PubTator and JSONL files stream (.gz works); "
        "SpERT JSON and dataset folders are read whole. Texts longer than the "
        "encoder window are split into overlapping windows and merged.",
    )
    extract.add_argument("--model", required=True, help="student folder or Hub id")
    extract.add_argument(
        "--revision",
        help="branch, tag or commit of a Hub id --model (default: main); pins the student a run uses",
    )
    extract.add_argument("--input", required=True, help="texts or records (see above)")
    extract.add_argument(
        "--output", required=True, help="JSONL file of records to write (a folder with --shard-size)"
    )
    extract.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default 32)")
    extract.add_argument(
        "--lexicon",
        help="drug lexicon file (DrugBank CSV or one name per line): drugs come from it instead of the "
        "student's drug tagger where a text has none given",
    )
    extract.add_argument(
        "--drug-threshold",
        type=_score,
        help="drop drugs scoring below (default: the student's own, set by `adekd train --tune-thresholds`; "
        "else 0)",
    )
    extract.add_argument(
        "--ade-threshold", type=_score, help="drop ADEs scoring below (default: the student's, else 0)"
    )
    extract.add_argument(
        "--max-length",
        type=_at_least(3, "[CLS], a token, [SEP]"),
        help="tokens per window (default: the encoder's limit)",
    )
    extract.add_argument(
        "--stride",
        type=_at_least(0, "tokens shared by windows"),
        help="tokens shared by consecutive windows (default 128)",
    )
    extract.add_argument("--split-sentences", action="store_true", help="split each text line into sentences")
    extract.add_argument(
        "--find-drugs",
        action="store_true",
        help="let the student find the drugs even where input records give them (to score it end to end "
        "on a gold file)",
    )
    extract.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cpu, or GPU 0 if any)")
    extract.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16", "int8"),
        help="weights precision (int8: dynamic quantization of the linear layers, CPU only)",
    )
    extract.add_argument(
        "--shard-size",
        type=int,
        help="corpus scale: write OUTPUT as a folder of JSONL shards of this many records and a manifest; "
        "a rerun skips finished shards, and under `accelerate launch -m adekd.cli extract` the processes "
        "share the shards (no record twice, none missing)",
    )
    extract.set_defaults(func=_run_extract)


def _run_extract(args: argparse.Namespace) -> None:
    from adekd.corpora import CorpusError, DrugLexicon
    from adekd.modeling import extract_file
    from adekd.modeling.pipeline_adekd import (
        check_device,
        check_revision,
        check_student_folder,
        load_pipeline,
    )

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.dtype == "int8" and args.device and args.device.split(":")[0] != "cpu":
        raise CLIError(f"--dtype int8 runs on CPU only, not on --device {args.device} (use bfloat16 there)")
    try:
        check_device(args.device)
    except ValueError as err:  # "device 'cuda:0' cannot be used: ..."
        raise CLIError(f"--{err}") from None
    try:
        check_student_folder(args.model)
    except (OSError, ValueError) as err:  # the message starts with the path
        raise CLIError(f"--model {err}") from None
    try:
        check_revision(args.model, args.revision)
    except ValueError as err:  # "revision 'v1' applies to a Hub id; ..."
        raise CLIError(f"--{err}") from None
    if args.dtype == "bfloat16" and _runs_on_cpu(args.device):
        from adekd.hardware import warn_if_emulated_bf16

        warn_if_emulated_bf16("--dtype bfloat16")
    if args.shard_size is None:
        _check_output_file("--output", args.output)
        if os.path.abspath(args.output) == os.path.abspath(args.input):
            raise CLIError(f"--output {args.output} would overwrite the input")
    try:
        lexicon = DrugLexicon.from_file(args.lexicon) if args.lexicon else None
    except CorpusError as err:
        raise CLIError(f"--lexicon: {err}") from None
    if args.shard_size is not None:
        _run_extract_sharded(args, lexicon)
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise CLIError("several processes would write one --output file; add --shard-size to share shards")
    try:
        pipe = load_pipeline(args.model, device=args.device, dtype=args.dtype, revision=args.revision)
    except (OSError, ValueError) as err:
        raise CLIError(f"--model {args.model}: {err}") from None
    try:
        pipe.student_processor(args.max_length, args.stride)  # windows this encoder can take
    except ValueError as err:
        raise CLIError(f"--max-length/--stride: {err}") from None
    try:
        count = extract_file(
            pipe,
            args.input,
            args.output,
            split_sentences=args.split_sentences or None,
            keep_drugs=not args.find_drugs,
            batch_size=args.batch_size,
            drug_lexicon=lexicon,
            drug_threshold=args.drug_threshold,
            ade_threshold=args.ade_threshold,
            max_length=args.max_length,
            stride=args.stride,
            progress=True,
        )
    except OSError as err:
        raise _extract_os_error(args, err) from None
    except (TypeError, ValueError) as err:  # CorpusError and bad records name the file, line or record
        raise CLIError(f"--input {args.input}: {err}") from None
    logging.getLogger("adekd.cli").info("wrote %d records to %s", count, args.output)


def _runs_on_cpu(device: str | None) -> bool:
    """Whether a --device (None: the pipeline's default, the first accelerator if any) is the CPU."""
    import torch

    if device is None:
        return not torch.accelerator.is_available()
    return device.split(":")[0] == "cpu"


def _extract_os_error(args: argparse.Namespace, err: OSError) -> CLIError:
    """The flag an OS error of a running extraction is about, from the file it names: --output (the
    file, its .tmp, a shard), --model (a file of the student folder), else --input."""
    names = [os.path.abspath(name) for name in (err.filename, err.filename2) if isinstance(name, str)]
    for flag, path in (("--output", args.output), ("--model", args.model)):
        root = os.path.abspath(path)
        if any(name in (root, f"{root}.tmp") or name.startswith(root + os.sep) for name in names):
            return CLIError(f"{flag} {path}: {err}")
    return CLIError(f"--input {args.input}: {err}")


def _run_extract_sharded(args: argparse.Namespace, lexicon: object) -> None:
    from adekd.modeling.sharding import ShardingError, extract_sharded

    try:
        manifest = extract_sharded(
            args.model,
            args.input,
            args.output,
            shard_size=args.shard_size,
            split_sentences=args.split_sentences or None,
            keep_drugs=not args.find_drugs,
            batch_size=args.batch_size,
            drug_lexicon=lexicon,
            drug_threshold=args.drug_threshold,
            ade_threshold=args.ade_threshold,
            max_length=args.max_length,
            stride=args.stride,
            device=args.device,
            dtype=args.dtype,
            revision=args.revision,
        )
    except ShardingError as err:
        raise CLIError(str(err)) from None
    except OSError as err:
        raise _extract_os_error(args, err) from None
    except (TypeError, ValueError) as err:
        raise CLIError(f"--input {args.input}: {err}") from None
    if manifest is not None:
        count, shards = manifest["num_records"], manifest["num_shards"]
        logging.getLogger("adekd.cli").info("wrote %d records in %d shards to %s", count, shards, args.output)


def _add_train(sub: argparse._SubParsersAction) -> None:
    from adekd.training.arguments import add_training_arguments

    train = sub.add_parser(
        "train",
        help="train a student (Accelerate; same flags as `accelerate launch scripts/train.py`)",
        description="Train a drug-centric student on labeled records (JSONL, dataset folder, SpERT JSON "
        "or Hub id). DIR ends as a student folder with metrics.json and training_config.json. For several "
        "GPUs or processes run `accelerate launch scripts/train.py` with the same flags.",
    )
    add_training_arguments(train)
    train.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from adekd.training.arguments import USER_ERRORS, run_from_args

    try:
        run_from_args(args)
    except USER_ERRORS as err:
        raise CLIError(str(err)) from None


def _add_label(sub: argparse._SubParsersAction) -> None:
    label = sub.add_parser(
        "label",
        help="label unlabeled sentences with a teacher LLM (silver records of a task, default ADE)",
        description="Label texts with a teacher LLM: for each sentence, the drugs and the adverse events "
        "they caused (or the anchors and related spans of another --task), quoted by the teacher and "
        "aligned to character spans. Every answer is cached (SQLite) "
        "as it arrives: rerunning the same command after a crash sends only the requests that never got "
        "an answer. DIR becomes a dataset folder that load_dataset(DIR) reads, with failures.jsonl (inputs "
        "without a label, itself a valid --input for a retry) and run_summary.json (counts, tokens, cost).",
    )
    add = label.add_argument
    add("--input", required=True, help="texts (one per line), JSONL, PubTator, records, SpERT JSON, dataset")
    add(
        "--output",
        required=True,
        metavar="DIR",
        help="silver dataset folder to write: new, empty, or an earlier `adekd label` output (rewritten)",
    )
    add(
        "--teacher",
        choices=["local", "openai", "vllm"],
        default="local",
        help="local: SmolLM2 on CPU via transformers (default); openai: any OpenAI-compatible server; "
        "vllm: a `vllm serve` server with --base-url, else vllm.LLM in this process",
    )
    add("--model", help="model name (default: gpt-4o-mini for openai, the packaged SmolLM2 for local)")
    add("--base-url", help="server URL, e.g. http://127.0.0.1:8000/v1 (default for openai: api.openai.com)")
    add(
        "--api-key-env",
        metavar="VAR",
        help="variable holding the API key (default OPENAI_API_KEY; VLLM_API_KEY with --teacher vllm)",
    )
    add(
        "--task",
        default="ade",
        metavar="NAME_OR_FILE",
        help="what to extract: a built-in task (default ade: drugs and their adverse events) or a task "
        "spec YAML file (anchor and target types, answer keys, instructions, examples)",
    )
    add("--prompt", default="few-shot", help="zero-shot, few-shot (default) or a YAML/JSON template file")
    add("--examples", metavar="FILE", help="labeled records JSONL whose records become the few-shot examples")
    add("--num-examples", type=int, metavar="N", help="use only the first N few-shot examples")
    add(
        "--structured-output",
        default="auto",
        choices=["auto", "response_format", "structured_outputs", "none"],
        help="how the answer schema is enforced (auto: response_format for openai, structured_outputs for "
        "vllm, none for local)",
    )
    add(
        "--constrain-quotes",
        action="store_true",
        help="restrict quotes to 1-8-word pieces of the sentence (servers with guided decoding)",
    )
    add("--temperature", type=float, default=0.0)
    add("--max-tokens", type=int, default=256, help="answer length limit (default 256)")
    add(
        "--no-retry-truncated",
        dest="retry_truncated",
        action="store_false",
        help="do not retry an answer cut at --max-tokens with twice the tokens",
    )
    add("--seed", type=int)
    add(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="local teacher weights (auto: bfloat16 where the CPU runs it natively, else float32)",
    )
    add("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    add(
        "--batch-size",
        type=int,
        default=8,
        help="sentences per generate call of in-process teachers (8 on CPU; hundreds for vLLM on a GPU)",
    )
    add("--rpm", type=float, dest="requests_per_minute", help="requests-per-minute limit")
    add("--tpm", type=float, dest="tokens_per_minute", help="tokens-per-minute limit")
    add("--timeout", type=float, default=120.0, dest="request_timeout", help="seconds per request")
    add("--max-retries", type=int, default=6, help="retries on 429, 5xx, timeouts and connection errors")
    add("--cache", metavar="PATH", help="answer cache (default ~/.cache/adekd/teacher.sqlite)")
    add("--max-input-chars", type=int, default=4000, help="longer texts are reported as failures")
    add(
        "--split-sentences",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="split texts into sentences (default: PubTator yes, others no)",
    )
    add("--lexicon", metavar="FILE", help="drug lexicon (e.g. DrugBank CSV): skip texts without a drug")
    add("--keep-duplicates", action="store_true", help="one record per input id even for repeated texts")
    add("--fuzzy-threshold", type=float, default=0.85, help="minimum similarity of a fuzzy quote match")
    add("--batch-api", action="store_true", help="OpenAI Batch API (half price, results within 24 h)")
    add("--batch-poll-interval", type=float, default=30.0, metavar="SECONDS")
    add("--price", metavar="IN,OUT", help="USD per million input,output tokens for the cost estimate")
    add("--limit", type=int, metavar="N", help="label only the first N inputs")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar")
    label.set_defaults(func=_run_label)


def _run_label(args: argparse.Namespace) -> None:
    from dataclasses import fields

    from adekd.tasks import load_task
    from adekd.teacher import LabelConfig, check_silver_output, label
    from adekd.teacher.backends import BackendError
    from adekd.teacher.cache import CacheError
    from adekd.teacher.silver import run_identity

    price = None
    if args.price:
        try:
            price_in, price_out = (float(value) for value in args.price.split(","))
        except ValueError:
            raise CLIError(f"--price {args.price!r}: expected two numbers, e.g. 0.15,0.60") from None
        price = (price_in, price_out)
    # every LabelConfig field has a flag of the same name (dest); --price is parsed above
    settings = {
        field.name: getattr(args, field.name) for field in fields(LabelConfig) if hasattr(args, field.name)
    }
    config = LabelConfig(**settings, price_per_million=price)
    try:  # before any teacher call: an --output that cannot be written must not cost a run
        planned = {  # the parts of the run summary that say which run this is
            "corpus": {"source": args.input},
            "teacher": {"backend": config.teacher, "model": config.resolved_model()},
            "task": {"name": load_task(config.task).name},
        }
        check_silver_output(args.output, run_identity(planned))
    except ValueError as err:  # includes TaskError
        raise CLIError(str(err)) from None
    try:
        result = label(args.input, config)
    except (BackendError, CacheError, ValueError) as err:  # includes CorpusError, RecordError, PromptError
        raise CLIError(str(err)) from None
    folder = result.save(args.output)
    counts, usage = result.summary["counts"], result.summary["usage"]
    if not result.records and result.failures:
        raise CLIError(
            f"no text was labeled: all {counts['failures']} failed (first: {result.failures[0]['error']}); "
            f"the failures are in {folder / 'failures.jsonl'}"
        )
    cost = usage["cost_usd"]
    cost_text = "unknown" if cost is None else f"${cost:.4f}"
    print(
        f"labeled {counts['records']} texts ({counts['cached']} from the cache, "
        f"{counts['requested']} requested), {counts['failures']} failed, "
        f"{counts['rejected_quotes']} quotes rejected; {usage['total_tokens']} tokens, cost {cost_text}; "
        f"wrote {folder}"
    )


def _add_demo(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="serve the Gradio app of the Space: extract ADEs drug by drug, score a model on a gold file",
        description="Serve the adekd Space app on this machine (needs the space extra: pip install "
        "'adekd[space]'). The model loads once; another one can be typed in the page. With --export-space, "
        "write a folder that can be uploaded to a Hugging Face Space as it is, instead of serving.",
    )
    demo.add_argument(
        "--model",
        help="student folder or Hub id (default: $ADEKD_MODEL, else the student the distillation published)",
    )
    demo.add_argument(
        "--revision",
        help="branch, tag or commit of a Hub --model (default: $ADEKD_MODEL_REVISION, else main)",
    )
    demo.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)"
    )
    demo.add_argument(
        "--max-chars", type=int, help="longer texts are cut, with a note in the page (default 5000)"
    )
    demo.add_argument(
        "--export-space",
        metavar="DIR",
        help="write the Space folder (app, README, requirements, adekd) to DIR; with --model, the Space "
        "serves that student (a folder is copied in, a Hub id goes into its card)",
    )
    demo.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    try:
        from adekd.demo import (
            DemoConfig,
            DemoInputError,
            check_model_name,
            export_space,
            launch_demo,
            resolve_model,
        )
    except ModuleNotFoundError as err:
        if err.name != "gradio":
            raise
        raise CLIError("the demo needs gradio: pip install 'adekd[space]'") from None
    if args.export_space:
        from adekd.hub import PublishError

        if args.revision:
            raise CLIError(
                "--revision applies to a served model; an exported Space pins its model with the Space "
                "variable ADEKD_MODEL_REVISION (Settings -> Variables)"
            )

        try:
            check_model_name(args.model) if args.model else None
        except DemoInputError as err:
            raise CLIError(f"--model {args.model}: {err}") from None
        try:
            print(export_space(args.export_space, model=args.model))
        except PublishError as err:
            raise CLIError(f"--model {args.model}: {err}") from None
        except OSError as err:
            raise CLIError(f"--export-space {args.export_space}: {err}") from None
        return
    model = resolve_model(args.model)
    try:
        check_model_name(model)
    except DemoInputError as err:
        raise CLIError(f"--model {model}: {err}") from None
    from adekd.modeling.pipeline_adekd import check_revision

    try:
        check_revision(os.path.expanduser(model), args.revision)
    except ValueError as err:  # "revision 'v1' applies to a Hub id; ..."
        raise CLIError(f"--{err}") from None
    if args.max_chars is not None and args.max_chars < 1:
        raise CLIError(f"--max-chars must be at least 1, got {args.max_chars}")
    config = DemoConfig() if args.max_chars is None else DemoConfig(max_chars=args.max_chars)
    try:
        launch_demo(model, host=args.host, port=args.port, config=config, revision=args.revision)
    except OSError as err:
        raise CLIError(f"--port {args.port}: {err}") from None


def _add_distill(sub: argparse._SubParsersAction) -> None:
    distill = sub.add_parser(
        "distill",
        help="label with a teacher, train a student on the silver labels, score both on gold, publish both",
        description="The whole distillation in one command: the teacher labels the input sentences (answers "
        "cached as they arrive), the student trains on the silver labels, both are scored with ade_f1 on the "
        "same gold sentences (never trained on), and the silver dataset and the student are written as "
        "Hub-ready folders with cards (OUTPUT/hub/). Every stage is skipped when its output exists with the "
        "same inputs and resumed when it was cut short. With no arguments it runs the embedded teacher "
        "(SmolLM2) and student (MiniLM) on the default input, offline. Flags override --config.",
    )
    distill.add_argument("--config", help="YAML file of settings (see `adekd.distill.DistillConfig`)")
    distill.add_argument(
        "--task",
        help="what to extract: a built-in task (ade, chemical-disease) or a task spec file; sets the "
        "teacher's prompt, the student's labels, the default input and the cards (default ade)",
    )
    distill.add_argument("--output", dest="output_dir", help="run folder (default ./adekd-run)")
    distill.add_argument("--input", help="unlabeled sentences, any `adekd label` input (default: embedded)")
    distill.add_argument("--gold", help="labeled records scoring teacher and student (default: embedded)")
    distill.add_argument("--max-sentences", type=int, help="label at most this many input sentences")
    distill.add_argument("--max-gold", type=int, help="score on at most this many gold records")
    distill.add_argument(
        "--split-sentences", action="store_true", default=None, help="split input texts into sentences"
    )
    distill.add_argument(
        "--min-silver-records", type=int, help="fewer silver records stop the run (default 20)"
    )
    distill.add_argument(
        "--teacher", choices=("local", "openai", "vllm"), help="teacher backend (default local)"
    )
    distill.add_argument(
        "--model", help="teacher model (default: packaged SmolLM2, or gpt-4o-mini for openai)"
    )
    distill.add_argument(
        "--base-url", help="OpenAI-compatible server URL (vllm serve, transformers serve, ...)"
    )
    distill.add_argument("--prompt", help="zero-shot, few-shot or a template file (default few-shot)")
    distill.add_argument("--concurrency", type=int, help="teacher requests in flight")
    distill.add_argument(
        "--simulated-noise",
        type=float,
        help="simulated teacher: corrupt the labeled input's own labels at this noise level (for studies)",
    )
    distill.add_argument("--encoder", help="student encoder path or Hub id (default: packaged MiniLM)")
    distill.add_argument("--epochs", type=int, help="student training epochs")
    distill.add_argument("--push-to-hub", help="also upload the student to this Hub repo")
    distill.add_argument(
        "--dataset-repo", help="Hub repo of the silver dataset (default: <push-to-hub>-silver)"
    )
    distill.add_argument("--private", action="store_true", default=None, help="create the Hub repos private")
    distill.add_argument("--force", action="store_true", help="rerun every stage, even those up to date")
    distill.set_defaults(func=_run_distill)


def _run_distill(args: argparse.Namespace) -> None:
    from adekd.distill import DistillConfigError, DistillError, distill
    from adekd.distill.config import load_config

    top = ("task", "output_dir", "input", "gold", "max_sentences", "max_gold", "split_sentences")
    top += ("min_silver_records", "simulated_noise")
    overrides = {
        **{key: getattr(args, key) for key in top},
        "teacher": {
            key: getattr(args, key) for key in ("teacher", "model", "base_url", "prompt", "concurrency")
        },
        "student": {"encoder": args.encoder, "epochs": args.epochs},
        "publish": {
            "push_to_hub": args.push_to_hub,
            "dataset_repo": args.dataset_repo,
            "private": args.private,
        },
    }
    try:
        result = distill(load_config(args.config, overrides), force=args.force)
    except (DistillConfigError, DistillError) as err:
        raise CLIError(str(err)) from None
    print(result.table())
    print(f"summary: {result.output_dir / 'summary.json'}")
    print(f"open the demo on the student: {result.summary['demo']}")


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_corpus,
    _add_evaluate,
    _add_publish,
    _add_student,
    _add_extract,
    _add_train,
    _add_label,
    _add_demo,
    _add_distill,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adekd",
        description="Distill LLMs into small drug-centric students for adverse drug event extraction.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # one INFO line per HTTP request would bury the progress bar and the summary
        for name in ("httpx", "httpx2"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        args.func(args)
    except CLIError as err:
        print(f"adekd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
