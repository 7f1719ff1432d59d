"""ratio: an example coalmine judge in Python (componentize-py).

A metric fails when the experiment's mean exceeds the control's by more than ``maxRatio``
(``judgeConfigurations.maxRatio``, default 1.2) in the metric's direction (``High``), or falls
below ``1 / maxRatio`` of it (``Low``). NaNs are removed or replaced by 0 as the metric says.
The score is the share of counted (not muted) metrics that pass; a failed critical metric, or
half or more of the metrics without data, fails the canary.
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import judge as wit_judge
from wit_world.imports import host, types

DEFAULT_MAX_RATIO = 1.2


def summary(values):
    n = len(values)
    if n == 0:
        return types.SummaryStats(count=0, min=0.0, max=0.0, mean=0.0, std=0.0)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return types.SummaryStats(count=n, min=min(values), max=max(values), mean=mean, std=math.sqrt(var))


def clean(values, metric):
    if metric.nan_strategy == types.NanStrategy.REPLACE:
        return [0.0 if math.isnan(v) else v for v in values]
    return [v for v in values if not math.isnan(v)]


def classify(pair, metric, max_ratio):
    control = clean(pair.control.values, metric)
    experiment = clean(pair.experiment.values, metric)
    c, e = summary(control), summary(experiment)
    details = []
    reason = None
    if not control or not experiment:
        cls = (types.MetricClassification.NODATA_FAIL_METRIC if metric.must_have_data
               else types.MetricClassification.NODATA)
        reason = f"{metric.name} has no data"
    else:
        ratio = e.mean / c.mean if c.mean != 0 else (1.0 if e.mean == 0 else math.inf)
        details.append(types.Detail(name="ratio", value=types.DetailValue_Number(ratio)))
        up = metric.direction in (types.Direction.INCREASE, types.Direction.EITHER)
        down = metric.direction in (types.Direction.DECREASE, types.Direction.EITHER)
        if up and ratio > max_ratio:
            cls = types.MetricClassification.HIGH
        elif down and ratio < 1 / max_ratio:
            cls = types.MetricClassification.LOW
        else:
            cls = types.MetricClassification.PASS
        if cls != types.MetricClassification.PASS:
            reason = f"The mean of {metric.name} changed by a ratio of {ratio:.3f} (allowed {max_ratio})"
        host.log(host.Level.DEBUG, f"{pair.id}: ratio {ratio:.4f} {cls.name}")
    failed = cls not in (types.MetricClassification.PASS, types.MetricClassification.NODATA)
    return types.MetricResult(pair_id=pair.id, classification=cls, reason=reason,
                              critical=metric.critical and failed, control=c, experiment=e,
                              details=details)


class Judge(exports.Judge):
    def info(self):
        return wit_judge.JudgeInfo(name="python-ratio", version="0.1.0",
                                   description="Fails a metric whose mean ratio exceeds maxRatio (Python)")

    def judge(self, request):
        try:
            config = json.loads(request.judge_configuration or "{}")
        except ValueError as error:
            raise Err(types.JudgeError_InvalidRequest(f"judgeConfigurations is not JSON: {error}"))
        max_ratio = config.get("maxRatio", DEFAULT_MAX_RATIO)
        if not isinstance(max_ratio, (int, float)) or max_ratio < 1:
            raise Err(types.JudgeError_InvalidRequest(
                f"judgeConfigurations.maxRatio must be a number >= 1, got {max_ratio!r}"))
        metrics = {metric.name: metric for metric in request.metrics}
        results = []
        for pair in request.pairs:
            metric = metrics.get(pair.metric)
            if metric is None:
                raise Err(types.JudgeError_InvalidRequest(f"pair {pair.id}: no metric {pair.metric}"))
            results.append(classify(pair, metric, float(max_ratio)))

        counted = [r for r, p in zip(results, request.pairs) if not metrics[p.metric].muted]
        passed = [r for r in counted if r.classification == types.MetricClassification.PASS]
        nodata = [r for r in counted if r.classification == types.MetricClassification.NODATA]
        critical = next((r for r in counted if r.critical), None)
        reason = ""
        if critical is not None:
            score, reason = 0.0, f"Canary Failed: {critical.reason}"
        elif counted and len(nodata) * 2 >= len(counted):
            score, reason = 0.0, "Canary Failed: 50% or more metrics returned NODATA"
        else:
            judged = len(counted) - len(nodata)
            score = round(100.0 * len(passed) / judged, 2) if judged else 100.0
        if score >= request.thresholds.pass_:
            classification = types.ScoreClassification.PASS
        elif score >= request.thresholds.marginal:
            classification = types.ScoreClassification.MARGINAL
        else:
            classification = types.ScoreClassification.FAIL
        return types.Judgement(results=results, group_scores=[], score=score,
                               classification=classification, reason=reason)
