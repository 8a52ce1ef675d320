"""The operator's arguments as Airflow renders them: which are templates, how a rendered text reads
back as a number or a flag, and whether a mapped task's ``download_to`` names its own file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.models import (
    DEFAULT_MODEL,
    DEFAULT_TEXT_MODEL,
    OPTIONAL_PARAMETERS,
    Kind,
    models_of,
)
from airflow_provider_hailuo.gateway.params import (
    BOOL_PARAMETERS,
    IMAGE_PARAMETERS,
    GenerationRequest,
    check_model,
)
from airflow_provider_hailuo.media.images import check_source
from airflow_provider_hailuo.media.storage import check_destination, names_a_file, redact_uri

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# The generation parameters of the family, in the order of the model pages; all are templated.
GENERATION_FIELDS: tuple[str, ...] = (*IMAGE_PARAMETERS, *OPTIONAL_PARAMETERS, "model")
_TEXT_BOOLEANS = {"true": True, "false": False}


def is_template(value: object) -> bool:
    """A value only known when the task runs: Jinja text, or an XComArg/other lazy reference."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve") and hasattr(value, "iter_references")


def from_rendered_text(name: str, value: object) -> object:
    """Jinja renders to text unless the DAG renders native objects: ``"10"`` -> 10, ``"true"`` -> True,
    and an optional value that rendered empty (``""``, ``"None"``) is unset.

    Only applied to values that were templates; a literal of the wrong type stays an error.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name != "first_frame_image" and text in ("", "None"):
        return None
    if name == "duration" and text.isdigit():
        return int(text)
    if name in BOOL_PARAMETERS and text.lower() in _TEXT_BOOLEANS:
        return _TEXT_BOOLEANS[text.lower()]
    return value


def check_literals(arguments: dict[str, Any], templated: frozenset[str], kind: Kind) -> list[str]:
    """Refuse at DAG-parse time what is already known to be wrong; returns the warnings.

    Templated values stand in as "unset", or as a placeholder where a value is required: the
    gateway's defaults (6 s, 768P, no last frame) are the most permissive choices of every table,
    so this never refuses a valid DAG. A templated model may be any of the kind's: the literals
    must suit one of them.
    """
    literal: dict[str, Any] = {
        name: (None if name in templated else value) for name, value in arguments.items()
    }
    for name in IMAGE_PARAMETERS:
        if literal[name] is not None:
            check_source(literal[name], name, registry=False)
    # A templated model is not known yet: the literals must suit at least one model of the kind.
    candidates = [literal["model"]] if literal["model"] is not None else list(models_of(kind))
    if literal["model"] is None:
        default = DEFAULT_MODEL if kind is Kind.IMAGE_TO_VIDEO else DEFAULT_TEXT_MODEL
        candidates.sort(key=lambda model: model != default)  # the default's refusal is the one shown
    refusal: HailuoValidationError | None = None
    for model in candidates:
        rules = check_model(model, kind)
        attempt = {**literal, "model": model}
        if kind is Kind.IMAGE_TO_VIDEO and "first_frame_image" in templated:
            attempt["first_frame_image"] = "https://placeholder.invalid/frame.png"
        if rules.prompt_required and "prompt" in templated:
            attempt["prompt"] = "a prompt known when the task runs"
        try:
            return GenerationRequest(**attempt).validate()
        except HailuoValidationError as error:
            refusal = refusal or error
    assert refusal is not None
    raise refusal


def rendered_request(arguments: dict[str, Any], templated: frozenset[str]) -> GenerationRequest:
    """The rendered arguments as a request; those that were templates are read back from text."""
    values: dict[str, Any] = {
        name: from_rendered_text(name, value) if name in templated else value
        for name, value in arguments.items()
    }
    return GenerationRequest(**values)


def check_download_to(destination: Any, context: Context, *, raw: Any, origin: Any) -> None:
    """``download_to`` (as rendered) can be written, and a mapped task's file name is its own.

    ``raw`` is ``download_to`` as the DAG gave it, before rendering; ``origin`` the DAG's task
    (mapped or not) this task instance comes from.
    """
    check_destination(destination)
    if destination is None or not names_a_file(destination):
        return
    if not _shared_by_map_indexes(context, raw=raw, origin=origin):
        return
    raise HailuoValidationError(
        "download_to",
        f"download_to={redact_uri(str(destination))!r} names one file, and this task is mapped: every map "
        "index would download into it, and each result's local_path would point at another task's "
        "video. Give a folder (each video is then named after its gateway task), or a file name per "
        "index, e.g. '/data/clip_{{ ti.map_index }}.mp4'. Nothing was sent.",
    )


def _shared_by_map_indexes(context: Context, *, raw: Any, origin: Any) -> bool:
    """Whether a mapped task instance's ``download_to`` is the same for every map index: given to
    ``partial`` (not expanded), and not a template that names the map index."""
    map_index = getattr(context["ti"], "map_index", None)
    if map_index is None or map_index < 0:
        return False
    expanded = getattr(getattr(origin, "expand_input", None), "value", None)
    if not isinstance(expanded, dict) or "download_to" in expanded:
        return False  # expanded per index, or by expand_kwargs (each index's own)
    return not (isinstance(raw, str) and "map_index" in raw)
