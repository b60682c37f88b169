"""What the calibrator learns for one state of the FAQs (classifier and thresholds), and its snapshot file."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.calibrated_thresholds import Calibrated
from retrieval.classifier import FaqClassifier

_SNAPSHOT = "calibration.json"


@dataclass(frozen=True)
class Learned:
    key: str  # which state of the FAQs this was learned from
    version: int  # the index version it was learned at
    classifier: FaqClassifier | None
    calibrated: Calibrated | None
    note: str = ""  # why there is no calibration, when there is none
    # Without a calibration: the 95th percentile of the confidence of off-topic questions, where the default
    # generate threshold is raised to (an embedder whose cosines sit higher than MiniLM's; dialogue/policy.py).
    off_topic_floor: float | None = None


def with_chosen_blend(classifier: FaqClassifier | None, calibrated: Calibrated | None) -> FaqClassifier | None:
    """`classifier` with the blend the calibration chose (the plain logistic regression before one)."""
    if classifier is None or calibrated is None:
        return classifier
    return classifier.blended(calibrated.neighbour_weight, calibrated.classifier_scale)


def load_learned(folder: Path, key: str) -> Learned | None:
    """What the snapshot in `folder` holds when it was learned for `key`; None for none, another or a broken one."""
    try:
        meta = json.loads((folder / _SNAPSHOT).read_text())
        if meta.get("key") != key:
            return None
        arrays = np.load(folder / meta["arrays"]) if meta.get("arrays") else None
    except (OSError, ValueError, KeyError):
        return None
    calibrated = Calibrated(**meta["calibrated"]) if meta.get("calibrated") else None
    if calibrated is None and "off_topic_floor" not in meta:
        return None  # from before the floor (2026-12-06): learned again, which without a calibration is quick
    classifier = None
    if arrays is not None:
        texts = arrays["texts"].astype(np.float32) if "texts" in arrays.files else None
        text_classes = arrays["text_classes"] if "text_classes" in arrays.files else None
        classifier = with_chosen_blend(FaqClassifier(arrays["entries"], arrays["weights"], arrays["bias"], texts,
                                                     text_classes), calibrated)
    return Learned(key, -1, classifier, calibrated, meta.get("note", ""), meta.get("off_topic_floor"))


def save_learned(folder: Path, learned: Learned) -> None:
    """Make `learned` the snapshot in `folder`, its classifier's arrays in a file of their own; OSError if not."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = None
    if learned.classifier is not None:
        arrays = f"calibration-{learned.key}.npz"
        c = learned.classifier
        extra = ({"texts": c.texts.astype(np.float16), "text_classes": c.text_classes}
                 if c.texts is not None else {})
        np.savez(folder / arrays, entries=c.entries, weights=c.weights, bias=c.bias, **extra)
    meta = {"key": learned.key, "arrays": arrays, "note": learned.note,
            "calibrated": learned.calibrated.as_dict() if learned.calibrated else None,
            "off_topic_floor": learned.off_topic_floor}
    temporary = folder / f"{_SNAPSHOT}.tmp"
    temporary.write_text(json.dumps(meta))
    temporary.replace(folder / _SNAPSHOT)
    for old in folder.glob("calibration-*.npz"):
        if old.name != arrays:
            old.unlink(missing_ok=True)
