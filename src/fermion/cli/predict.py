"""`fermion predict NAME`: ask a deployment for predictions, and print them as a table
that fits what the model does (labels, values, boxes, recommended items)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer

from fermion.cli.output import print_json, print_table, table
from fermion.client import Client
from fermion.errors import InvalidInput


def predict(
    name: Annotated[str, typer.Argument(help="The deployment.")],
    image: Annotated[list[Path] | None, typer.Option(help="An image file (repeatable).")] = None,
    audio: Annotated[
        list[Path] | None, typer.Option(help="A sound file: WAV, FLAC, OGG, MP3 (repeatable).")
    ] = None,
    text: Annotated[list[str] | None, typer.Option(help="A text (repeatable).")] = None,
    user: Annotated[
        list[str] | None, typer.Option(help="A user id, for a recommender (repeatable).")
    ] = None,
    json_body: Annotated[
        str | None, typer.Option("--json", help='The request as JSON: {"inputs": [...]}.')
    ] = None,
    top_k: Annotated[int | None, typer.Option(help="Labels per prediction.")] = None,
    min_score: Annotated[
        float | None,
        typer.Option(help="A detector's lowest score shown (default: the model's own)."),
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the answer as JSON.")] = False,
) -> None:
    """Ask a deployment for predictions: images, sound files, texts, users (for a
    recommender), or a JSON request."""
    given = [v for v in (image, audio, text, user, json_body) if v]
    if len(given) != 1:
        raise InvalidInput("give --image, --audio, --text, --user or --json (one kind per call)")
    inputs, what = _inputs(image, audio, text or user, json_body)
    with Client() as client:
        predictions = client.predict(name, **inputs, top_k=top_k, min_score=min_score)
    if raw:
        print_json(predictions)
    elif predictions and "items" in predictions[0]:
        _print_recommendations(predictions)
    elif predictions and "detections" in predictions[0]:
        _print_detections(what, predictions)
    else:
        _print_labels_or_values(what, predictions)


def _inputs(
    image: list[Path] | None, audio: list[Path] | None, strings: list[str] | None, body: Any
) -> tuple[dict[str, Any], list[str]]:
    """The client's keyword for the inputs, and how the table names each input."""
    files = image or audio
    if files:
        for path in files:
            if not path.is_file():
                raise InvalidInput(f"{path} is not a file")
        paths = [str(p) for p in files]
        return {"image" if image else "audio": paths}, paths
    if strings:
        return {"inputs": list(strings)}, list(strings)
    try:
        parsed: Any = jsonlib.loads(body)
    except jsonlib.JSONDecodeError as exc:
        raise InvalidInput(f"--json is not valid JSON: {exc}") from None
    inputs = parsed.get("inputs") if isinstance(parsed, dict) else parsed
    if not isinstance(inputs, list):
        raise InvalidInput('--json takes {"inputs": [...]} or a list of inputs')
    return {"inputs": inputs}, [jsonlib.dumps(i)[:40] for i in inputs]


def _print_labels_or_values(what: list[str], predictions: list[dict[str, Any]]) -> None:
    regression = predictions and "value" in predictions[0]
    out = table("input", "prediction", "probability" if not regression else "", "top")
    for source, p in zip(what, predictions, strict=True):
        if regression:
            out.add_row(source, f"{p['value']:.4g}", "", "")
        else:
            top = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in p["top_k"][1:])
            out.add_row(source, p["label"], f"{p['probability']:.3f}", top)
    print_table(out, whole=("prediction",))


def _print_detections(what: list[str], predictions: list[dict[str, Any]]) -> None:
    out = table("input", "label", "score", "box (x0, y0, x1, y1)")
    for source, p in zip(what, predictions, strict=True):
        if not p["detections"]:
            out.add_row(source, "(nothing found)", "", "")
        for n, found in enumerate(p["detections"]):
            box = ", ".join(f"{v:.0f}" for v in found["box"])
            out.add_row(source if n == 0 else "", found["label"], f"{found['score']:.3f}", box)
    print_table(out, whole=("label",))


def _print_recommendations(predictions: list[dict[str, Any]]) -> None:
    out = table("user", "recommended", "seen lately")
    for p in predictions:
        shown = ", ".join(f"{i['item']} {i['score']:.2f}" for i in p["items"])
        who = p["user"] if p["known_user"] else f"{p['user']} (new: popular items)"
        out.add_row(who, shown, ", ".join(p["history"][:10]))
    print_table(out, whole=("user",))
