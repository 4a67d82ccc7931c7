"""`fermion model explain` and `fermion deployment explain`: one input's answer
explained, shown as a person reads it: the image's heat map written as a PNG, the words
shaded by their attribution, the features ranked."""

from __future__ import annotations

import base64
import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from fermion.cli.output import console, err_console, print_json, print_table, table
from fermion.errors import InvalidInput
from fermion.payloads import Explanation

InputFile = Annotated[
    Path | None,
    typer.Option(
        "--input", help="The input: an image file, a text file, or a JSON record ({col: value})."
    ),
]
TextOption = Annotated[str | None, typer.Option("--text", help="A text to explain.")]
RecordOption = Annotated[
    str | None, typer.Option("--record", help='A record as JSON: {"column": value, ...}.')
]
TargetOption = Annotated[
    str | None, typer.Option(help="The class to explain (default: the predicted one).")
]
MethodOption = Annotated[
    str | None,
    typer.Option(help="integrated-gradients or occlusion (images, text); shapley (tables)."),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Images: where to write the heat map (PNG).")
]


def read_input(model_type: str, path: Path | None, text: str | None, record: str | None) -> dict:
    """The SDK's keyword for the one input given (image=, text= or record=)."""
    if sum(v is not None for v in (path, text, record)) != 1:
        raise InvalidInput("give the input: --input FILE, --text TEXT or --record JSON")
    if text is not None:
        return {"text": text}
    if record is not None:
        return {"record": _record(record, "--record")}
    assert path is not None
    if not path.is_file():
        raise InvalidInput(f"--input {path} is not a file")
    if model_type == "image-classification":
        return {"image": path}
    if model_type == "audio-classification":
        raise InvalidInput(
            "explanations cover image, text and tabular models; audio models have none"
        )
    if model_type == "text-classification":
        return {"text": path.read_text(errors="replace")}
    return {"record": _record(path.read_text(errors="replace"), str(path))}


def _record(text: str, where: str) -> Any:
    try:
        return jsonlib.loads(text)
    except jsonlib.JSONDecodeError as exc:
        raise InvalidInput(f"{where} is not a JSON record: {exc}") from None


def show(found: Explanation, out: Path | None, name: str, json: bool) -> None:
    if found.heatmap_png is not None:
        path = out or Path(f"{name.replace(':', '-')}-explained.png")
        path.write_bytes(base64.b64decode(found.heatmap_png))
        err_console.print(f"heat map written to {path}")
    if json:
        print_json(found)
        return
    what = f"class {found.target} (p={found.score:.3f})" if found.target else "the value"
    console.print(
        f"{found.model}: {what}, explained with {found.method} against {found.baseline}"
        f" (p={found.baseline_score:.3f}) in {found.seconds:.2f} s",
        highlight=False,
    )
    if found.check is not None:
        console.print(
            f"check: the attributions add up to {found.check.total:+.4f}, the change is"
            f" {found.check.expected:+.4f} (error {found.check.error:.1e})",
            highlight=False,
        )
    if found.tokens is not None:
        console.print(shaded(found))
    if found.features is not None:
        out_table = table("feature", "value", "attribution")
        for feature in found.features:
            out_table.add_row(feature.name, f"{feature.value:.4g}", f"{feature.attribution:+.4f}")
        print_table(out_table, whole=("feature",))


def shaded(found: Explanation) -> Text:
    """The tokens, red as they speak for the class, blue against."""
    peak = max((abs(t.attribution) for t in found.tokens or []), default=0.0) or 1.0
    text = Text()
    for token in found.tokens or []:
        strength = int(55 + 200 * min(1.0, abs(token.attribution) / peak))
        colour = f"rgb({strength},40,40)" if token.attribution > 0 else f"rgb(40,60,{strength})"
        text.append(token.token, style=f"on {colour}" if token.attribution else "")
        text.append(" ")
    return text


def importance_summary(report: dict[str, Any]) -> Any:
    """A model's global importance, as a table (features, words) or a pointer to the
    dashboard (an image map)."""
    if "features" in report:
        out = table("feature", f"importance ({report['metric']} lost)", "±", title="importance")
        for feature in report["features"]:
            out.add_row(feature["name"], f"{feature['importance']:+.4f}", f"{feature['std']:.4f}")
        return out
    if "classes" in report:
        out = table("class", "words that speak for it most", title="importance")
        for label, tokens in report["classes"].items():
            out.add_row(label, ", ".join(t["token"] for t in tokens))
        return out
    return Text(
        f"importance: an attribution map over {report.get('samples', 0)} images"
        " (the model's page in the dashboard shows it)"
    )
