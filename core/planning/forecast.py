"""Weekly demand forecasts: the series classified, then a method fitted to its class.

A series is units per week, oldest first. Its class (Syntetos and Boylan, 2005) comes from two figures:

    ADI = weeks / weeks with demand                 (average inter-demand interval)
    CV² = (sd / mean)² of the non-zero weeks' sizes (population sd)

    smooth        ADI < adi_cutoff,  CV² < cv2_cutoff     -> simple or damped-trend (Holt) exponential smoothing
    erratic       ADI < adi_cutoff,  CV² >= cv2_cutoff    -> simple exponential smoothing
    intermittent  ADI >= adi_cutoff, CV² < cv2_cutoff     -> Croston, SBA, TSB
    lumpy         ADI >= adi_cutoff, CV² >= cv2_cutoff    -> Croston, SBA, TSB

Each method returns its forecast for the horizon and its in-sample one-step-ahead errors (actual minus the
forecast made the week before; NaN where it had nothing to go on yet). Among a class's candidate methods the
one with the lowest one-step RMSE over the weeks all of them forecast is chosen, so the choice is explainable.

Yearly seasonality is used only where the history holds at least `min_seasons` whole years and the series
correlates with itself a year apart (`season_acf`). The demo's default history is one year: no season is
estimated from it, because one year cannot tell a season from a one-off.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from core.planning.config import planning_section

Floats = NDArray[np.float64]


class DemandParams(BaseModel):
    """The `demand:` section of the planning file."""

    history_weeks: int = Field(
        default=104, ge=4, le=520
    )  # weeks of history read, at most (fewer if orders begin later)
    min_history_weeks: int = Field(default=8, ge=2)  # fewer weeks (or fewer than 2 with demand): the plain mean
    adi_cutoff: float = Field(default=1.32, gt=1)
    cv2_cutoff: float = Field(default=0.49, gt=0)
    alpha: float = Field(default=0.2, gt=0, le=1)  # level smoothing (simple and Holt)
    beta: float = Field(default=0.1, gt=0, le=1)  # trend smoothing (Holt)
    phi: float = Field(default=0.9, gt=0, le=1)  # trend damping (Holt); 1 is an undamped trend
    croston_alpha: float = Field(default=0.1, gt=0, le=1)  # size and interval smoothing (Croston, SBA)
    tsb_alpha: float = Field(default=0.1, gt=0, le=1)  # size smoothing (TSB)
    tsb_beta: float = Field(default=0.1, gt=0, le=1)  # demand-probability smoothing (TSB)
    season_length: int = Field(default=52, ge=2)  # weeks in a season (a year)
    min_seasons: int = Field(default=2, ge=2)  # whole seasons of history before a season is estimated
    season_acf: float = Field(default=0.3, gt=0, lt=1)  # autocorrelation a season apart that counts as seasonal
    candidates: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "smooth": ["ses", "holt"],
            "erratic": ["ses"],
            "intermittent": ["sba", "tsb", "croston"],
            "lumpy": ["sba", "tsb", "croston"],
        }
    )


def demand_params() -> DemandParams:
    """The demand section of the planning file in force."""
    return planning_section("demand", DemandParams)


class DemandClass(StrEnum):
    NONE = "none"  # no demand at all
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"


@dataclass(frozen=True)
class Classification:
    demand_class: DemandClass
    adi: float  # inf when there is no demand
    cv2: float


@dataclass(frozen=True)
class Fit:
    """One method's forecast for the horizon and its in-sample one-step errors (NaN before it could forecast)."""

    method: str
    forecast: Floats
    errors: Floats

    @property
    def rmse(self) -> float:
        return rmse(self.errors)


def rmse(errors: Floats) -> float:
    """Root mean square of the errors that exist; 0 when there are none."""
    known = errors[~np.isnan(errors)]
    return float(math.sqrt(float(np.mean(known**2)))) if known.size else 0.0


def classify(series: list[int] | Floats, params: DemandParams) -> Classification:
    """The series' Syntetos-Boylan class from its ADI and the CV² of its non-zero sizes."""
    y = np.asarray(series, dtype=float)
    sizes = y[y > 0]
    if sizes.size == 0:
        return Classification(DemandClass.NONE, math.inf, 0.0)
    adi = y.size / sizes.size
    cv2 = float((sizes.std() / sizes.mean()) ** 2)
    frequent = adi < params.adi_cutoff
    steady = cv2 < params.cv2_cutoff
    if frequent:
        return Classification(DemandClass.SMOOTH if steady else DemandClass.ERRATIC, adi, cv2)
    return Classification(DemandClass.INTERMITTENT if steady else DemandClass.LUMPY, adi, cv2)


# --- smoothing for frequent demand -------------------------------------------------------------------------


def ses(y: Floats, horizon: int, alpha: float) -> Fit:
    """Simple exponential smoothing, the level started at the first week: flat forecast at the last level."""
    errors = np.full(y.size, np.nan)
    level = float(y[0])
    for t in range(1, y.size):
        errors[t] = y[t] - level
        level += alpha * (y[t] - level)
    return Fit("ses", np.full(horizon, level), errors)


def holt(y: Floats, horizon: int, alpha: float, beta: float, phi: float) -> Fit:
    """Damped-trend (Holt) smoothing, level at the first week and trend at the first difference; never below 0."""
    errors = np.full(y.size, np.nan)
    if y.size < 3:
        return ses(y, horizon, alpha)
    level, trend = float(y[1]), float(y[1] - y[0])
    for t in range(2, y.size):
        expected = level + phi * trend
        errors[t] = y[t] - max(expected, 0.0)
        previous = level
        level = alpha * y[t] + (1 - alpha) * expected
        trend = beta * (level - previous) + (1 - beta) * phi * trend
    damped = np.cumsum(phi ** np.arange(1, horizon + 1))
    return Fit("holt", np.maximum(level + damped * trend, 0.0), errors)


# --- seasonality ------------------------------------------------------------------------------------------


def seasonal_indices(y: Floats, params: DemandParams) -> Floats | None:
    """Multiplicative indices per week of the season when the history supports them, else None.

    Supported means at least `min_seasons` whole seasons and an autocorrelation a season apart of at least
    `season_acf`. The indices are each week's mean over the seasons, smoothed over five weeks (a season of
    weekly data is noisy), as a share of the overall mean."""
    m = params.season_length
    seasons = y.size // m
    if seasons < params.min_seasons or y.mean() <= 0:
        return None
    if autocorrelation(y, m) < params.season_acf:
        return None
    recent = y[-seasons * m :].reshape(seasons, m).mean(axis=0)
    smoothed = np.convolve(np.concatenate([recent[-2:], recent, recent[:2]]), np.ones(5) / 5, mode="valid")
    indices: Floats = np.maximum(smoothed / smoothed.mean(), 0.05)
    return indices


def autocorrelation(y: Floats, lag: int) -> float:
    """The series' sample autocorrelation at `lag` (0 for a flat series)."""
    centred = y - y.mean()
    denominator = float(np.sum(centred**2))
    if denominator == 0 or lag >= y.size:
        return 0.0
    return float(np.sum(centred[lag:] * centred[:-lag]) / denominator)


def season_weeks(start: int, count: int, m: int, length: int) -> NDArray[np.int64]:
    """The week of the season (index into the indices) of the series' weeks start..start+count-1, the season
    aligned so that it ends with the series' last week (of `length` weeks)."""
    offset = (m - length % m) % m
    return (np.arange(start, start + count) + offset) % m


def seasonal(name: str, y: Floats, horizon: int, params: DemandParams, indices: Floats) -> Fit:
    """A method fitted to the deseasonalised series, put back into the season: forecast and errors in units."""
    m = indices.size
    week = indices[season_weeks(0, y.size, m, y.size)]
    ahead = indices[season_weeks(y.size, horizon, m, y.size)]
    plain_fit = fit_method(name, y / week, horizon, params)
    expected = (y / week - plain_fit.errors) * week
    return Fit(name + "+season", plain_fit.forecast * ahead, y - expected)


# --- intermittent demand ----------------------------------------------------------------------------------


def croston(y: Floats, horizon: int, alpha: float, debias: float = 1.0, name: str = "croston") -> Fit:
    """Croston's method: sizes and intervals smoothed at each week with demand, forecast size / interval.

    Both start at the first demand (its size, and its interval counted from the series' start); `debias`
    multiplies the forecast (SBA's 1 - alpha/2)."""
    errors = np.full(y.size, np.nan)
    nonzero = np.flatnonzero(y > 0)
    if nonzero.size == 0:
        return Fit(name, np.zeros(horizon), errors)
    first = int(nonzero[0])
    size, interval, since = float(y[first]), float(first + 1), 0
    for t in range(first + 1, y.size):
        errors[t] = y[t] - debias * size / interval
        since += 1
        if y[t] > 0:
            size += alpha * (y[t] - size)
            interval += alpha * (since - interval)
            since = 0
    return Fit(name, np.full(horizon, debias * size / interval), errors)


def sba(y: Floats, horizon: int, alpha: float) -> Fit:
    """Syntetos-Boylan approximation: Croston's forecast times (1 - alpha / 2), which removes its upward bias."""
    return croston(y, horizon, alpha, debias=1 - alpha / 2, name="sba")


def tsb(y: Floats, horizon: int, alpha: float, beta: float) -> Fit:
    """Teunter-Syntetos-Babai: the probability of demand is smoothed every week (so it decays through a run of
    zeros, unlike Croston), the size at weeks with demand; forecast probability x size."""
    errors = np.full(y.size, np.nan)
    nonzero = np.flatnonzero(y > 0)
    if nonzero.size == 0:
        return Fit("tsb", np.zeros(horizon), errors)
    first = int(nonzero[0])
    size, probability = float(y[first]), 1.0 / (first + 1)
    for t in range(first + 1, y.size):
        errors[t] = y[t] - probability * size
        happened = y[t] > 0
        probability += beta * (float(happened) - probability)
        if happened:
            size += alpha * (y[t] - size)
    return Fit("tsb", np.full(horizon, probability * size), errors)


def level(y: Floats, horizon: int) -> Fit:
    """The plain mean, for a history too short to smooth; its errors are each week's distance from that mean."""
    mean = float(y.mean()) if y.size else 0.0
    errors = y - mean if y.size > 1 else np.full(y.size, np.nan)
    return Fit("level", np.full(horizon, mean), errors)


# --- choosing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """The chosen method's forecast with the class that chose its candidates and every candidate's RMSE."""

    classification: Classification
    fit: Fit
    rmse_by_method: dict[str, float]  # over the weeks every candidate forecast

    @property
    def method(self) -> str:
        return self.fit.method

    @property
    def error_sd(self) -> float:
        return self.fit.rmse


def fit_method(name: str, y: Floats, horizon: int, params: DemandParams) -> Fit:
    """One named method fitted to `y`."""
    match name:
        case "ses":
            return ses(y, horizon, params.alpha)
        case "holt":
            return holt(y, horizon, params.alpha, params.beta, params.phi)
        case "croston":
            return croston(y, horizon, params.croston_alpha)
        case "sba":
            return sba(y, horizon, params.croston_alpha)
        case "tsb":
            return tsb(y, horizon, params.tsb_alpha, params.tsb_beta)
        case "level":
            return level(y, horizon)
    raise ValueError(f"unknown forecasting method {name!r}; use ses, holt, croston, sba, tsb or level")


def forecast(series: list[int] | Floats, horizon: int, params: DemandParams) -> Forecast:
    """The series classified and forecast by the best of its class's candidate methods."""
    y = np.asarray(series, dtype=float)
    classification = classify(y, params)
    if classification.demand_class is DemandClass.NONE:
        return Forecast(classification, Fit("none", np.zeros(horizon), np.full(y.size, np.nan)), {})
    if y.size < params.min_history_weeks or np.count_nonzero(y) < 2:
        chosen = level(y, horizon)
        return Forecast(classification, chosen, {"level": chosen.rmse})
    names = params.candidates.get(classification.demand_class.value) or ["ses"]
    indices = seasonal_indices(y, params) if classification.demand_class is DemandClass.SMOOTH else None
    fits = [_fit(name, y, horizon, params, indices) for name in names]
    common = np.all([~np.isnan(f.errors) for f in fits], axis=0)
    scores = {f.method: rmse(np.where(common, f.errors, np.nan)) for f in fits}
    chosen = min(fits, key=lambda f: scores[f.method])  # ties go to the first listed
    return Forecast(classification, chosen, scores)


def _fit(name: str, y: Floats, horizon: int, params: DemandParams, indices: Floats | None) -> Fit:
    if indices is None:
        return fit_method(name, y, horizon, params)
    return seasonal(name, y, horizon, params, indices)
