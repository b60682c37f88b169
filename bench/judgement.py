"""A capable LM's judgement, step by step on and off: answers, wrong answers and latency per path.

For each variant (HELPDESK_JUDGEMENT off, or on with a set of HELPDESK_JUDGEMENT_STEPS) a throwaway SQLite
knowledge base is built from an FAQ file and calibrated as in production; then every question of its eval file
(in scope, partial, out of scope) and every turn of its conversations is sent through `DialogueManager.respond`
with the configured LM (HELPDESK_LM_MODEL, HELPDESK_LM_BACKEND), timed, scored like `helpdesk eval quality
--answer-all` (training/conversation_eval.py `verdict`) and sorted by the path it took: a verbatim FAQ with no
LM call, an FAQ the LM confirmed ("verify"; each P(yes) it was asked is printed per turn), the FAQ a reply stopped
as resting on a weaker match was written from, confirmed by the LM, a message the LM rewrote and that was then
answered verbatim, an LM answer checked against the snippets it cited, the usual generated reply, or the
fallback. Prints one table per knowledge base.

    HELPDESK_LM_MODEL=qwen2.5-coder-1.5b .venv/bin/python bench/judgement.py --variant off --variant verify --every 3
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.cli.evaluate import DEFAULT_EVAL_FILES  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.settings import get_settings  # noqa: E402
from dialogue.messages import InboundMessage, ReplyKind  # noqa: E402
from retrieval.faq_files import read_faq_file  # noqa: E402
from training.calibration import load_eval_set  # noqa: E402
from training.conversation_eval import load_conversations, verdict  # noqa: E402
from retrieval.generated_questions import set_generated_questions  # noqa: E402
from training.enrichment import EnrichmentConfig, enrich  # noqa: E402

VARIANTS = {"off": ("off", ""), "verify": ("on", "verify"), "verify+translate": ("on", "verify,translate"),
            "verify+rewrite": ("on", "verify,rewrite"),
            "verify+all": ("on", "verify,rewrite,answer,compose"),
            "rewrite": ("on", "rewrite"), "rewrite+answer": ("on", "rewrite,answer"),
            "answer+compose": ("on", "answer,compose"), "all": ("on", "rewrite,answer,compose")}


class Paths:
    """Which path each answer took, seen from the Judge (wrapped for the bench only)."""

    def __init__(self, manager):
        self.current: dict = {}
        judge, answering = manager.answering.judge, manager.answering
        rewrite, respond, generate = judge.rewrite, judge.respond, answering.generate
        confirmed, probability = judge.confirmed, judge.answers_probability
        weaker, translate = judge.on_weaker_match, manager.across.translate

        def traced_probability(*args, **kwargs):
            p_yes = probability(*args, **kwargs)
            self.current.setdefault("p_yes", []).append(p_yes)
            return p_yes

        def traced_confirmed(*args, **kwargs):
            answer = confirmed(*args, **kwargs)
            if answer is not None:
                self.current["confirmed"] = True
            return answer

        def traced_weaker(*args, **kwargs):
            answer = weaker(*args, **kwargs)
            if answer.kind is ReplyKind.FAQ and not answer.rejected and args[-1].rejected:
                self.current["weaker"] = True
            elif answer is not args[-1]:
                self.current["weaker"] = False  # the fallback (the stopped reply had the best FAQ's curated answer,
                # or the fallback already)
            return answer

        def traced_rewrite(question):
            self.current["rewrites"] = self.current.get("rewrites", 0) + 1
            return rewrite(question)

        def traced_respond(*args, **kwargs):
            self.current["judged"] = True
            answer = respond(*args, **kwargs)
            self.current["searched"] = answer.searched
            return answer

        def traced_generate(*args, **kwargs):
            self.current["generated"] = True
            return generate(*args, **kwargs)

        def traced_translate(*args, **kwargs):
            translation = translate(*args, **kwargs)
            self.current["rewrites"] = self.current.get("rewrites", 0) + 1
            self.current["translated"] = translation or "-"
            return translation

        judge.rewrite, judge.respond, answering.generate = traced_rewrite, traced_respond, traced_generate
        manager.across.translate = traced_translate
        judge.confirmed, judge.answers_probability = traced_confirmed, traced_probability
        judge.on_weaker_match = traced_weaker

    def take(self) -> dict:
        taken, self.current = self.current, {}
        return taken


def path_of(reply, trace: dict) -> str:
    if reply is None:
        return "handed over"
    if trace.get("translated"):  # across languages, without the LM's own answer
        return "translated, confirmed, verbatim" if reply.kind is ReplyKind.FAQ else "translated, not confirmed"
    if trace.get("confirmed"):  # in the judge's respond, or across languages (the curated answer under the note)
        return "confirmed by the LM, verbatim"
    if trace.get("weaker"):
        return "the reply's FAQ confirmed, verbatim"
    if trace.get("weaker") is False:
        return "reply on a weaker match, not confirmed"
    if trace.get("judged"):
        if reply.rejected:
            return "LM answer stopped or unusable"
        if reply.kind is ReplyKind.FAQ and trace.get("searched"):
            return "rewritten, then verbatim"
        if reply.kind is ReplyKind.GENERATED:  # the JSON answer step, or (steps without "answer") the usual reply
            return "generated (usual), judge on" if trace.get("generated") else "LM answer (checked)"
        return "LM abstained"
    if reply.rejected:
        return "generated, stopped"
    if reply.kind is ReplyKind.FAQ:
        return "verbatim, no LM"
    return "generated (usual)" if trace.get("generated") else reply.kind.value


def measure(name: str, faqs: Path, eval_file: Path, mode: str, steps: str, limit: int | None, every: int = 1,
            enriched: bool = False, paraphrases: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-judgement-") as scratch:
        settings = get_settings().model_copy(update={"data_dir": Path(scratch), "database_url": "",
                                                     "judgement": mode, "judgement_steps": steps})
        services = build_services(settings)
        services.start()
        try:
            drafts = read_faq_file(faqs).drafts
            created = services.knowledge.create_many(drafts)
            faq_of = {faq.question: faq.id for faq in created}
            if enriched:
                _enrich(name, services, settings, created, paraphrases)
            services.knowledge.calibrator.train_now()
            print(f"{name}: {mode} {steps}: {services.manager.thresholds()}", flush=True)
            questions = [[(q.query, q.expected)] for q in load_eval_set(eval_file)][::every][:limit]
            questions += [[(t.query, t.expected) for t in turns] for turns in load_conversations(eval_file)]
            return asyncio.run(_ask(services, questions, faq_of))
        finally:
            services.knowledge.close()
            services.engine.dispose()


def _enrich(name: str, services, settings, created: list, saved: Path | None) -> None:
    """The LM's paraphrases of the FAQs with few alternatives, as `helpdesk faq enrich` writes them; kept in `saved`
    (JSON, FAQ question -> paraphrases) and read back from it when it exists, so that variants compare the same."""
    if saved is not None and saved.exists():
        written = json.loads(saved.read_text(encoding="utf-8"))
        for faq in created:
            if written.get(faq.question):
                set_generated_questions(services.knowledge, faq.id, written[faq.question])
        print(f"{name}: the paraphrases of {saved} stored", flush=True)
        return
    started = time.perf_counter()
    report = enrich(services.knowledge, services.generator, created, EnrichmentConfig(), settings.company_name)
    print(f"{name}: {sum(map(len, report.enriched.values()))} questions written for {len(report.enriched)} FAQs, "
          f"{len(report.failed)} failed, in {time.perf_counter() - started:.0f} s", flush=True)
    if saved is not None and report.enriched:
        question_of = {faq.id: faq.question for faq in created}
        saved.write_text(json.dumps({question_of[i]: questions for i, questions in report.enriched.items()},
                                    ensure_ascii=False, indent=1), encoding="utf-8")


async def _ask(services, conversations, faq_of) -> dict:
    paths = Paths(services.manager)
    results = []
    for number, turns in enumerate(conversations):
        for query, expected in turns:
            started = time.perf_counter()
            sent = await services.manager.respond(InboundMessage("bench", f"bench-{number}", query))
            ms = (time.perf_counter() - started) * 1000
            reply = sent[-1] if sent else None
            trace = paths.take()
            results.append((bool(expected), verdict(frozenset(faq_of[q] for q in expected), reply),
                            path_of(reply, trace), ms, trace.get("rewrites", 0)))
            if reply is not None and reply.rejected:
                print(f"  stopped: {query!r}: {reply.rejected['reasons'][0][:150]} | {reply.rejected['text'][:200]!r}",
                      file=sys.stderr, flush=True)
            said = reply.text[:90] if reply else ""
            asked = [f"{p:.2f}" if p is not None else "-" for p in trace.get("p_yes", [])]
            verified = f" (P(yes) {', '.join(asked)})" if asked else ""
            if trace.get("translated"):
                verified += f" [translated: {trace['translated']!r}]"
            print(f"  {results[-1][2]}{verified}: {results[-1][1]} in {ms:.0f} ms: {query!r} -> {said!r}",
                  file=sys.stderr, flush=True)
    return {"results": results, "model": services.generator.model_id}


def summary(results: list) -> dict:
    in_scope = [v for scoped, v, *_ in results if scoped]
    by_path = defaultdict(list)
    for _, _, path, ms, _ in results:
        by_path[path].append(ms)
    answered = [ms for _, v, path, ms, _ in results if path in ("verbatim, no LM", "rewritten, then verbatim",
                                                                "confirmed by the LM, verbatim",
                                                                "the reply's FAQ confirmed, verbatim",
                                                                "translated, confirmed, verbatim",
                                                                "LM answer (checked)", "generated (usual)",
                                                                "generated (usual), judge on")]
    return {"asked": len(results), "right": in_scope.count("right") / max(len(in_scope), 1),
            "wrong_per_100": 100 * sum(v == "wrong" for _, v, *_ in results) / max(len(results), 1),
            "rewrites": sum(r[4] for r in results), "answered_p50": _p50(answered),
            "paths": {path: (len(times), _p50(times)) for path, times in sorted(by_path.items())},
            "kinds": Counter(path for _, _, path, _, _ in results)}


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="repeatable; default off, all")
    parser.add_argument("--kb", nargs=2, action="append", type=Path, metavar=("FAQS", "EVAL_FILE"),
                        help="default: the sample shop and the mobile operator")
    parser.add_argument("--limit", type=int, help="at most this many single questions per eval file")
    parser.add_argument("--enrich", action="store_true", help="have the LM write paraphrases of the FAQs with few "
                                                                 "alternatives first, as `helpdesk faq enrich` does")
    parser.add_argument("--paraphrases", type=Path, metavar="DIR", help="with --enrich: keep each knowledge base's "
                        "paraphrases in DIR/<name>.json, and use those already there instead of asking the LM")
    parser.add_argument("--every", type=int, default=1, help="every n-th single question only (in scope, partial "
                                                              "and out of scope alike)")
    args = parser.parse_args()
    kbs = [(faqs.parent.name, faqs, eval_file) for faqs, eval_file in args.kb] if args.kb else DEFAULT_EVAL_FILES
    for name, faqs, eval_file in kbs:
        rows = []
        for variant in args.variant or ["off", "all"]:
            started = time.perf_counter()
            measured = measure(name, faqs, eval_file, *VARIANTS[variant], args.limit, args.every, args.enrich,
                               args.paraphrases / f"{name}.json" if args.paraphrases else None)
            rows.append((variant, measured["model"], summary(measured["results"]), time.perf_counter() - started))
            print(f"{name}: {variant} done in {rows[-1][3]:.0f} s", flush=True)
        print(f"\n## {name} ({faqs.name}, {eval_file.name})\n")
        print("| judgement | LM | asked | answered correctly | wrong sent / 100 | LM rewrites | p50 ms per answer | "
              "paths: count, p50 ms |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for variant, model, s, _ in rows:
            paths = "; ".join(f"{path} {count}, {ms} ms" for path, (count, ms) in s["paths"].items())
            print(f"| {variant} | {model} | {s['asked']} | {s['right']:.3f} | {s['wrong_per_100']:.1f} | "
                  f"{s['rewrites']} | {s['answered_p50']} | {paths} |", flush=True)


if __name__ == "__main__":
    main()
