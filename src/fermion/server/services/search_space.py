"""A sweep's search space and finished trials as an Optuna study, rebuilt from the rows
whenever the controller asks Optuna something: the next options (TPE), whether a
running trial is pruned (median), which options mattered (PED-ANOVA)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fermion.payloads import ParamSpace, SweepCreate
from fermion.store.tables import SweepRow

if TYPE_CHECKING:
    import optuna

STATES = {"complete": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}


def distribution(space: ParamSpace) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if space.kind == "choice":
        return CategoricalDistribution(space.choices)
    if space.kind in ("int", "logint"):
        return IntDistribution(int(space.low), int(space.high), log=space.kind == "logint")
    return FloatDistribution(space.low, space.high, log=space.kind == "loguniform")


def study_of(spec: SweepCreate, row: SweepRow) -> tuple[optuna.Study, dict[str, Any]]:
    """An in-memory study holding the sweep's finished trials; the sampler is seeded by
    the sweep's seed and the number of trials so far, so a sweep proposes the same
    options whether or not the server restarted in between."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {space.name: distribution(space) for space in spec.params}
    startup = min(10, max(3, spec.trials // 3))  # random trials before TPE models the space
    study = optuna.create_study(
        direction=spec.direction,
        sampler=optuna.samplers.TPESampler(
            seed=spec.seed + len(row.trials), n_startup_trials=startup
        ),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=max(2, spec.trials // 6), n_warmup_steps=1
        ),
    )
    for trial in row.trials:
        if trial.state not in STATES:
            continue
        state = TrialState[STATES[trial.state]]
        study.add_trial(
            create_trial(
                params=trial.params,
                distributions=distributions,
                value=trial.value if state is TrialState.COMPLETE else None,
                intermediate_values=dict(enumerate(trial.intermediate or [])),
                state=state,
            )
        )
    return study, distributions


def param_importance(spec: SweepCreate, row: SweepRow) -> dict[str, float] | None:
    """Each option's share of the metric's variation (PED-ANOVA) over the trials that
    reached a value: a pruned trial counts with the best value it reached, or the
    importance would be measured on the good trials alone. None with too few of them."""
    import optuna
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {space.name: distribution(space) for space in spec.params}
    best = max if spec.direction == "maximize" else min
    study = optuna.create_study(direction=spec.direction)
    for trial in row.trials:
        values = trial.intermediate or ([trial.value] if trial.value is not None else [])
        if trial.state in ("complete", "pruned") and values:
            study.add_trial(
                create_trial(params=trial.params, distributions=distributions, value=best(values))
            )
    if len(study.trials) < 3:
        return None
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
        )
    except (RuntimeError, ValueError):  # every trial had the same options, say
        return None
    return {name: round(float(value), 4) for name, value in found.items()}
