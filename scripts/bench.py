#!/usr/bin/env python
"""Every speed ratio the course claims, each measured side by side in one run.

    .venv/bin/python scripts/bench.py [--only word2vec,transformer,bert,grading]
                                      [--device cpu|cuda] [--scale quick|full] [--json PATH]

| benchmark   | ours                                   | reference (same process, same data)          |
| ----------- | -------------------------------------- | -------------------------------------------- |
| word2vec    | chapter 1's `train_sgns` (words/s)     | gensim `Word2Vec`, one CPU thread            |
| transformer | chapter 3's `CausalTransformerLM` step | the same model built from `nn.TransformerEncoderLayer` |
| bert        | chapter 4's `BertForMLM` AdamW step    | `transformers.BertForMaskedLM`, same config  |
| grading     | `course grade` (students/min)          | plain `nbgrader` autograde + feedback        |

The models and settings are the chapters' own: the classes come from the solution sources
(`course.loader.load_definitions`), the sizes from their scale presets (`--scale`: `quick`
on a CPU, `full` on a GPU, as `course run` picks). Nothing here is a test: timings depend on
the machine and on what else it is doing, which is why every ratio is taken between two
runs made one after the other in this process.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from course import loader, runtime, text  # noqa: E402

BENCHES = ("word2vec", "transformer", "bert", "grading")


# ---------------------------------------------------------------- the chapters' own settings


def definitions(slug: str) -> dict:
    """The solution's imports, functions, classes and constants (no top-level statements)."""
    return loader.load_definitions(REPO / "solutions" / f"{slug}.md", strict=True)


def _value(node: ast.AST):
    """A preset's value: literals, and `dict(key=literal, ...)` calls."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {kw.arg: _value(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def preset(slug: str, name: str, scale: str) -> dict:
    """The `scale` entry of the `scale.pick({...})` assigned to `name` in solutions/slug.md,
    so the bench measures the chapter's configuration, not a copy of it."""
    nb = loader.read(REPO / "solutions" / f"{slug}.md")
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = loader.parse(cell.source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in stmt.targets)):
                continue
            for node in ast.walk(stmt.value):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "pick" and node.args):
                    arg = node.args[0]
                    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and not arg.args:
                        return definitions(slug)[arg.func.id]()[scale]  # scale.pick(lm_presets())
                    return _value(arg)[scale]
    sys.exit(f"bench: no `{name} = ...scale.pick({{...}})` in solutions/{slug}.md; "
             "update scripts/bench.py to the chapter's preset name")


def timed(step, steps: int, device: torch.device) -> float:
    """Seconds per call of step(), after one warm-up call (allocations, kernel choice)."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def training_step(model, loss_fn, batch, device):
    """One AdamW step of `model` on `batch`, under the course's bf16 rule (runtime.autocast)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with runtime.autocast(device):
            loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()
    return step


def row(name, ours, reference, unit, *, ours_label, reference_label, claim=None, **config):
    ratio = ours / reference
    return {"benchmark": name, "ours": ours, "reference": reference, "unit": unit,
            "ratio": ratio, "ours_label": ours_label, "reference_label": reference_label,
            "claim": claim, "meets_claim": None if claim is None else ratio >= claim,
            "config": config}


# ---------------------------------------------------------------- the benchmarks


def bench_word2vec(device: torch.device, scale: str, epochs: int | None) -> dict:
    """Chapter 1's trainer against gensim (one worker thread), same documents and settings.
    The claim (issue 14): >= 0.5x gensim on a CPU, >= 3x on one GPU against gensim on the
    same machine's CPU."""
    from gensim.models import Word2Vec

    from course import data

    ns = definitions("01_word2vec")
    corpus, hp, train = (preset("01_word2vec", n, scale) for n in ("CORPUS", "HP", "TRAIN"))
    hp = {**hp, "epochs": epochs or hp["epochs"]}
    parts = [(data.load("general")["train"], corpus["wiki"]), (data.load("imdb")["train"], corpus["imdb"]),
             (data.load("rotten_tomatoes")["train"], corpus["rt"])]
    docs = [d for split, n in parts for t in ns["take"](split, n)
            if (d := text.tokenize(t, punctuation=False))]
    order = torch.randperm(len(docs), generator=torch.Generator().manual_seed(0)).tolist()
    docs = [docs[i] for i in order]
    n_tokens = sum(map(len, docs))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the chapter: one thread each
    try:
        itos, counts = ns["build_vocab"](docs, hp["min_count"])
        stoi = {w: i for i, w in enumerate(itos)}
        keep = ns["keep_probability"](counts, hp["sample"])
        noise = ns["noise_distribution"](counts)
        ids, doc = ns["corpus_stream"](docs, stoi)
        runtime.seed_everything(0)
        model = ns["SkipGram"](len(itos), hp["dim"]).to(device)  # as the chapter: train_sgns updates in place
        _, ours_s = ns["train_sgns"](model, ids, doc, keep, noise, epochs=hp["epochs"],
                                     window=hp["window"], negatives=hp["negatives"], **train)
        gensim = Word2Vec(sg=1, vector_size=hp["dim"], window=hp["window"], negative=hp["negatives"],
                          min_count=hp["min_count"], sample=hp["sample"], epochs=hp["epochs"],
                          alpha=0.025, min_alpha=0.0001, workers=1, seed=0)
        gensim.build_vocab(docs)
        start = time.perf_counter()
        gensim.train(docs, total_examples=gensim.corpus_count, epochs=hp["epochs"])
        gensim_s = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    words = n_tokens * hp["epochs"]
    return row("word2vec", words / ours_s, words / gensim_s, "words/s",
               ours_label=f"train_sgns on {device.type}", reference_label="gensim, 1 CPU thread",
               claim=3.0 if device.type == "cuda" else 0.5,
               tokens=n_tokens, epochs=hp["epochs"], dim=hp["dim"], **train)


def bench_transformer(device: torch.device, scale: str, steps: int) -> dict:
    """Chapter 3's causal LM against its twin built from nn.TransformerEncoderLayer, same
    weights, same batches, measured by the chapter's own compare_throughput (Adam steps in
    alternating rounds, median tokens/s)."""
    ns = definitions("03_transformer")
    lm = preset("03_transformer", "LM", scale)
    vocab, T, batch = lm["vocab"], lm["T"], lm["batch"]
    runtime.seed_everything(2)
    sizes = dict(d_model=lm["d_model"], n_heads=lm["n_heads"], n_layers=lm["n_layers"], d_ff=lm["d_ff"])
    ours = ns["CausalTransformerLM"](vocab, **sizes, max_len=T)
    theirs = ns["TorchCausalLM"](vocab, sizes["d_model"], sizes["n_heads"], sizes["n_layers"],
                                 sizes["d_ff"], T)
    theirs.load_state_dict(ns["torch_state"](ours.state_dict()))
    speed = ns["compare_throughput"]({"ours": ours, "torch.nn": theirs}, batch, T, steps, device)
    return row("transformer", speed["ours"], speed["torch.nn"], "tokens/s",
               ours_label="CausalTransformerLM (yours)",
               reference_label="nn.TransformerEncoderLayer twin", vocab=vocab, T=T, batch=batch, **sizes)


def bench_bert(device: torch.device, scale: str, steps: int) -> dict:
    """Chapter 4's BertForMLM (masked-only vocabulary projection) against
    transformers.BertForMaskedLM, same config and batch, one AdamW step each."""
    from transformers import BertConfig, BertForMaskedLM

    ns = definitions("04_bert")
    mlm = preset("04_bert", "MLM", scale)
    vocab = 30522  # MiniLM's WordPiece vocabulary, the chapter's tokenizer
    sizes = dict(vocab_size=vocab, hidden=mlm["hidden"], layers=mlm["layers"], heads=mlm["heads"],
                 ffn=mlm["ffn"], max_positions=mlm["T"])
    config = BertConfig(vocab_size=vocab, hidden_size=mlm["hidden"], num_hidden_layers=mlm["layers"],
                        num_attention_heads=mlm["heads"], intermediate_size=mlm["ffn"],
                        max_position_embeddings=mlm["T"], hidden_act="gelu", layer_norm_eps=1e-12)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (mlm["batch"], mlm["T"]), generator=g)
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, torch.full_like(ids, -100))
    batch = (ids.to(device), labels.to(device))
    ours = ns["bert_init"](ns["BertForMLM"](**sizes), seed=0).to(device).train()
    theirs = BertForMaskedLM(config).to(device).train()
    speed = {}
    for name, model, fn in (("ours", ours, lambda m, b: m.loss(*b)),
                            ("transformers", theirs, lambda m, b: m(input_ids=b[0], labels=b[1]).loss)):
        speed[name] = ids.numel() / timed(training_step(model, fn, batch, device), steps, device)
    return row("bert", speed["ours"], speed["transformers"], "tokens/s",
               ours_label="BertForMLM (yours)", reference_label="transformers BertForMaskedLM",
               batch=mlm["batch"], T=mlm["T"], **{k: v for k, v in sizes.items() if k != "vocab_size"})


def bench_grading(students: int) -> dict:
    """`course grade` against plain nbgrader on one class (scripts/bench_grading.py)."""
    import bench_grading as g

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        subs = work / "submissions"
        kinds, source = g.build_class("01_word2vec", students, subs)
        plain_s, plain = g.plain_nbgrader("01_word2vec", source, subs, work, 120)
        ours_s, ours = g.course_grade(subs, work / "out", 120, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = all(abs(plain.get(s, -1) - ours.get(s, -2)) < 1e-9 for s in kinds)
    if not same:
        sys.exit(f"bench: course grade and plain nbgrader disagree: {ours} vs {plain}")
    return row("grading", 60 * students / ours_s, 60 * students / plain_s, "students/min",
               ours_label=f"course grade ({os.cpu_count()} CPUs, sandboxed, verified)",
               reference_label="plain nbgrader autograde + feedback", students=students)


# ---------------------------------------------------------------- report


def report(rows: list[dict]) -> None:
    print()
    print(f"{'benchmark':<12}{'ours':>14}{'reference':>14}  {'unit':<13}{'ratio':>7}  claim")
    for r in rows:
        claim = "" if r["claim"] is None else (
            f">= {r['claim']:g}x: {'met' if r['meets_claim'] else 'NOT met'}")
        print(f"{r['benchmark']:<12}{r['ours']:>14,.1f}{r['reference']:>14,.1f}  {r['unit']:<13}"
              f"{r['ratio']:>6.2f}x  {claim}")
        print(f"{'':<12}{r['ours_label']} / {r['reference_label']}; {r['config']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--device", default=None, help="cpu or cuda (default: course.runtime.device())")
    p.add_argument("--scale", choices=["tiny", "quick", "full"], default=None,
                   help="the chapters' preset to measure (default: full on CUDA, quick elsewhere)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    p.add_argument("--w2v-epochs", type=int, default=None, help="word2vec epochs (default: the chapter's)")
    p.add_argument("--students", type=int, default=4, help="class size of the grading benchmark")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = p.parse_args()
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    device = torch.device(args.device) if args.device else runtime.device()
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda, but torch sees no CUDA device")
    scale = args.scale or ("full" if device.type == "cuda" else "quick")
    print(f"bench: {runtime.hardware()}; device {device}; chapters' {scale} presets; torch {torch.__version__}")
    rows = []
    for name in chosen:
        start = time.perf_counter()
        print(f"\n== {name} ==", flush=True)
        if name == "word2vec":
            rows.append(bench_word2vec(device, scale, args.w2v_epochs))
        elif name == "transformer":
            rows.append(bench_transformer(device, scale, args.steps))
        elif name == "bert":
            rows.append(bench_bert(device, scale, args.steps))
        else:
            rows.append(bench_grading(args.students))
        rows[-1]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name}: {rows[-1]['ratio']:.2f}x in {rows[-1]['seconds']:.0f} s", flush=True)
    report(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"hardware": runtime.hardware(), "device": str(device),
                                         "scale": scale, "torch": torch.__version__, "rows": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
