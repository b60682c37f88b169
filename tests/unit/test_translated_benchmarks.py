"""HWU64 in other languages (training/translated_benchmarks.py): every translation file covers the subset, and a
half-translated or malformed file is refused with the line to fix."""

from pathlib import Path

import pytest

from retrieval.benchmarks import DatasetMissing
from training import translated_benchmarks as tb

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _write_hwu64(folder: Path) -> None:
    (folder / "hwu64").mkdir(parents=True)
    rows = {"train": [(f"set an alarm {n}", "alarm_set") for n in range(10)]
            + [("", "alarm_set")] + [(f"play song {n}", "play_music") for n in range(10)],
            "valid": [(f"wake me at {n}", "alarm_set") for n in range(4)] + [("play jazz", "play_music")],
            "test": [("alarm please", "alarm_set"), ("music please", "play_music")]}
    for split, texts in rows.items():
        lines = ["text,intent", *(f"{text},{intent}" for text, intent in texts)]
        (folder / "hwu64" / f"{split}.csv").write_text("\n".join(lines) + "\n")


def test_subset_keys_are_rows_of_the_shared_files(tmp_path):
    _write_hwu64(tmp_path)
    chosen = tb.subset(tmp_path)
    assert [key for key, _, _ in chosen["train"]][:8] == [f"train:{n}" for n in range(8)]
    # the empty row (number 10) is skipped but still counted, so keys stay the file's row numbers
    assert chosen["train"][8] == ("train:11", "play song 0", "play_music")
    assert len(chosen["valid"]) == 4 and len(chosen["test"]) == 2


def test_translations_build_own_and_crosslingual_benchmarks(tmp_path, monkeypatch):
    _write_hwu64(tmp_path)
    folder = tmp_path / "translations"
    folder.mkdir()
    monkeypatch.setattr(tb, "TRANSLATIONS", folder)
    keys = [key for split in tb.subset(tmp_path).values() for key, _, _ in split]
    (folder / "de.tsv").write_text("".join(f"{key}\tDeutsch {key}\n" for key in keys))
    own, across = tb.translated_benchmarks(tmp_path, "de")
    assert own.name == "hwu64-de" and across.name == "hwu64-en<-de"
    assert own.drafts[0].question == "Deutsch train:0" and across.drafts[0].question == "set an alarm 0"
    assert own.questions["valid"] == across.questions["valid"]
    assert own.questions["valid"][0] == ("Deutsch valid:0", "alarm_set")
    assert tb.english_subset(tmp_path).questions["test"] == [("alarm please", "alarm_set"),
                                                             ("music please", "play_music")]

    (folder / "de.tsv").write_text("".join(f"{key}\tDeutsch {key}\n" for key in keys[:-1]))
    with pytest.raises(DatasetMissing, match="lacks 1 texts of the subset \\(first: test:1\\)"):
        tb.translated_benchmarks(tmp_path, "de")
    (folder / "de.tsv").write_text("train:0 without a tab\n")
    with pytest.raises(DatasetMissing, match="de.tsv:1: expected"):
        tb.translated_benchmarks(tmp_path, "de")
    with pytest.raises(DatasetMissing, match="translated: de"):
        tb.translated_benchmarks(tmp_path, "fr")


@pytest.mark.skipif(not (SHARED / "hwu64").exists(), reason="../shared/data/hwu64 is not checked out beside the repo")
@pytest.mark.parametrize("code", tb.translated_languages())
def test_each_translation_covers_the_subset(code):
    rows = tb.subset(SHARED)
    translations = tb.read_translations(code)
    keys = [key for split in rows.values() for key, _, _ in split]
    assert list(translations) == keys  # every text, in the shared files' order, nothing else
    own, across = tb.translated_benchmarks(SHARED, code)
    assert len(own.drafts) == len(across.drafts) == 64
    assert (len(own.questions["valid"]), len(own.questions["test"])) == (191, 192)  # one intent has 2 valid texts
