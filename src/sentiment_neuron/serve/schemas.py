"""The service's request and response bodies (pydantic), with their limits.

Request models are built per app by `request_models(limits)`, so the limits
(and the unit range, 0..H-1 of the model served) are in the OpenAPI schema
that clients and the property tests read. A request outside them is answered
422 with pydantic's description of what is wrong, before the model runs.

(No ``from __future__ import annotations`` here: pydantic and FastAPI read
these annotations at run time, some of them local to `request_models`.)
"""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


@dataclass(frozen=True)
class Limits:
    """What one request may ask for.

    Attributes:
        max_chars: characters per text (classify, heatmap) and per prime (generate).
        max_texts: texts per /classify request.
        max_length: bytes generated per sample.
        max_samples: samples per /generate request.
        max_body_bytes: request body size; larger bodies are refused with 413 unread.
        hidden_size: H of the model served (units are 0..H-1).

    Raises:
        ValueError: a limit that is not a positive integer.
    """

    max_chars: int = 5_000
    max_texts: int = 64
    max_length: int = 500
    max_samples: int = 4
    max_body_bytes: int = 1_048_576
    hidden_size: int = 1

    def __post_init__(self) -> None:
        bad = {k: v for k, v in vars(self).items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
        if bad:
            raise ValueError(f"request limits must be positive integers, got {bad}")


def _encodable(text: str) -> str:
    """Refuse lone surrogates (JSON "\\ud800"): the model reads UTF-8, which cannot encode them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"text holds a character UTF-8 cannot encode (a lone surrogate at {err.start})") from None
    return text


def _whole(value):
    """JSON Schema's integer, exactly: 5 and 5.0 pass (as 5); "5", true and 5.5 do not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("Input should be an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("Input should be a whole number")
    return int(value)


def whole(**bounds):
    """An integer field type with bounds (ge=, le=): the bounds in the schema as minimum/maximum,
    `_whole` deciding what counts as an integer."""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole)]


class Strict(BaseModel):
    """A request body: JSON types exactly (no 0 for false, no "1" for 1), no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


def request_models(limits: Limits) -> SimpleNamespace:
    """The request bodies under `limits`: ClassifyRequest, HeatmapRequest, GenerateRequest."""
    Text = Annotated[str, StringConstraints(max_length=limits.max_chars), AfterValidator(_encodable)]
    Unit = whole(ge=0, le=limits.hidden_size - 1)

    class ClassifyRequest(Strict):
        """Texts to classify with the loaded classifier."""

        texts: list[Text] = Field(min_length=1, max_length=limits.max_texts,
                                  description=f"1..{limits.max_texts} texts of at most {limits.max_chars} characters")
        unit: bool = Field(False, description="classify by the sentiment unit alone")

    class HeatmapRequest(Strict):
        """A text whose unit values to read, one per character."""

        text: Text = Field(description=f"at most {limits.max_chars} characters")
        unit: Unit | None = Field(None, description="the unit to read, 0..H-1 (default: the sentiment unit)")

    class GenerateRequest(Strict):
        """Sampling settings; steer clamps the sentiment unit (Radford et al. 2017, section 4)."""

        prime: Text = ""
        length: whole(ge=1, le=limits.max_length) = Field(120, description="bytes per sample")
        n: whole(ge=1, le=limits.max_samples) = Field(1, description="samples")
        # Bounded away from 0: sampling computes in float32, where 1e-300 is 0 (a division by zero).
        temperature: float = Field(1.0, ge=0.01, le=5, description="softmax temperature")
        top_p: float = Field(0.9, ge=1e-6, le=1, description="nucleus: keep the most probable bytes up to p "
                             "(top_k=1 for greedy)")
        top_k: whole(ge=1, le=256) | None = Field(None, description="keep the k most probable bytes")
        steer: Literal["none", "positive", "negative"] = "none"
        strength: float = Field(1.0, gt=0, le=10, description="clamp at strength x the unit's typical magnitude")
        seed: whole(ge=0, le=2**32 - 1) = 0

    return SimpleNamespace(ClassifyRequest=ClassifyRequest, HeatmapRequest=HeatmapRequest,
                           GenerateRequest=GenerateRequest)


class Prediction(BaseModel):
    label: int = Field(description="the predicted class index")
    label_name: str
    probabilities: dict[str, float] = Field(description="per class name")
    unit_value: float | None = Field(description="the sentiment unit's pooled feature (the probe's input); "
                                              "null when the fine-tuned head classified")


class ClassifyResponse(BaseModel):
    label_names: list[str]
    head: str = Field(description="the classifier's head that answered: finetuned, probe, unit or direction")
    unit: int | None = Field(description="the sentiment unit (null: the classifier has none)")
    sign: int | None = Field(description="+1: larger values mean positive; -1: smaller do")
    results: list[Prediction]


class HeatmapResponse(BaseModel):
    text: str = Field(description="the text as the model read it (unescaped, newlines to spaces, stripped)")
    chars: list[str] = Field(description="its characters, one per value")
    values: list[float] = Field(description="the unit's value after each character")
    unit: int
    sign: int = Field(description="multiply values by it so that larger means positive (+1 without a classifier)")
    state: str = Field(description="hidden or cell")


class Steer(BaseModel):
    direction: str
    unit: int
    value: float = Field(description="the value the unit was clamped to")


class GenerateResponse(BaseModel):
    prime: str
    texts: list[str]
    steer: Steer | None


class Health(BaseModel):
    status: Literal["ok"]
    classifier: bool
    pending: int = Field(description="requests waiting for the model")
    batches: int = Field(description="forward passes run so far")
    requests: int = Field(description="requests served by them")


class Error(BaseModel):
    detail: str
