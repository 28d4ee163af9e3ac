"""Which metric ranks models and which way is better, apart from scikit-learn: a sweep's command
ranks what its workers scored and never fits or scores anything itself."""

from __future__ import annotations

LOWER_IS_BETTER = {"log_loss", "mae", "rmse"}


def resolve_metric(name: str, task: str, *, has_proba: bool = True) -> str:
    """``auto``: roc_auc for classifiers (f1 for those without probabilities), rmse for regressors."""
    if name != "auto":
        return name
    if task == "classification":
        return "roc_auc" if has_proba else "f1"
    return "rmse"
