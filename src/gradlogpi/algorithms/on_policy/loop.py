"""The one on-policy loop: collect with π_θ, improve θ (and the critic), repeat.

batch_pg, A2C, PPO and TRPO differ only in their `improve`; collection (steps, whole
episodes, Ray workers), the divergence guard, progress, checkpoints and resume are here,
once:

    Loop for each update u:
        batch ← collector.collect(π_θ, u)         (the episodes that ended are recorded)
        statistics ← improve(π, v̂, batch, state)  (θ put back if it became non-finite)
        report the update (progress, evaluation, checkpoint)

With `runs = R` the loop learns R runs together, each with its own collector, seed and
initial policy, update by update:

    Loop for each update u:
        each run still learning: batch_k ← collector_k.collect(π_k, u)
        improve_together(steps of all runs)      (JAX: one vmapped call for all networks)
        each run: report (run k's callback); a run that diverges or is stopped drops out

Run k ends where it would have ended alone. Runs learned together are not checkpointed
for resume (one run is); their final parameters are saved.

A checkpoint holds everything that decides what happens next: θ and the optimiser,
the critic and its optimiser, the loop's random stream, the statistics, and the
collector's state including the environments' snapshot. A resumed run continues bit
for bit; where an environment cannot be snapshotted its episodes in flight restart
(and the resumed run says so).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, cast

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import (
    Callback,
    EpisodeEnd,
    EpisodeRecord,
    Inputs,
    RunResult,
    StopTraining,
    capture_state,
    check_policy_fits_env,
    restore_state,
    stacked_results,
    step_size,
    update_kept_finite,
)
from gradlogpi.algorithms.on_policy.config import CollectionConfig
from gradlogpi.core.named_arrays import under_prefix, with_prefix
from gradlogpi.core.threads import one_blas_thread
from gradlogpi.features.normalization import ObservationNormalizer, RewardScaler
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import (
    Ascent,
    Objective,
    RunMinibatches,
    exploration_period,
    maximize_minibatches_of_runs,
)
from gradlogpi.policies.normalized import ObservationNormalizedPolicy
from gradlogpi.rollouts.collectors import Collector, EpisodeCollector, RayStepCollector
from gradlogpi.rollouts.episodes import make_env
from gradlogpi.rollouts.vector import (
    FinishedEpisodes,
    FragmentBatch,
    Shaping,
    StepCollector,
    make_vector_env,
)

C = TypeVar("C", bound=CollectionConfig)


@dataclass
class UpdateState(Generic[C]):
    """What an improver knows of the update besides the batch."""

    update: int
    """Index of the update, from 0."""
    fraction: float
    """The schedule's factor for this update (1 when constant)."""
    config: C
    """The algorithm's settings."""
    random: np.random.Generator
    """The run's stream for improvers that draw (PPO's minibatch shuffles); checkpointed."""


Improve = Callable[
    [Policy, ValueFunction | None, FragmentBatch, UpdateState[Any]], dict[str, float]
]
"""improve(policy, critic, batch, state) -> statistics: change θ (and the critic) in place
from one update's batch; return what is worth logging about it (floats by name)."""


def vector_env_id(env: str | gym.Env) -> str:
    """The registered id vector envs are made from: `env` itself, or the id of its spec."""
    if isinstance(env, str):
        return env
    if isinstance(env, gym.Env) and env.spec is not None:
        return env.spec.id
    raise TypeError(
        "`env` must be a registered Gymnasium id or an environment made by gymnasium.make "
        f"(on-policy algorithms make vector envs from the id); got {type(env).__name__}"
    )


def make_collector(
    env_id: str, config: CollectionConfig, policy: Policy, seed: int | None
) -> Collector:
    """The collector `config.collection` names."""
    if config.collection == "episodes":
        if exploration_period(policy) is not None:
            warnings.warn(
                "`policy.gsde.sample_every` holds the exploration matrix in step-based "
                "collection only; with collection = 'episodes' every step draws a new one "
                "(independent samples of π(a|s))",
                stacklevel=2,
            )
        return EpisodeCollector(env_id, config, policy, seed)
    if config.collection == "ray":
        return RayStepCollector(env_id, config, policy, seed)
    envs = make_vector_env(
        env_id,
        config.num_envs,
        config.vectorization_mode,
        config.max_episode_steps,
        autoreset=True,
        seed=seed,
    )
    normalizer = scaler = None
    if config.normalize_observations:
        shape = tuple(envs.single_observation_space.shape or ())
        normalizer = ObservationNormalizer(shape, config.normalization_clip)
    if config.normalize_rewards:
        scaler = RewardScaler(config.num_envs, config.gamma, config.normalization_clip)
    return StepCollector(
        envs,
        seed,
        config.steps_per_env,
        env_id,
        shaping=Shaping(normalizer, scaler, config.clip_actions),
    )


def acting(policy: Policy, collector: Collector) -> Policy:
    """The policy as it acts outside the loop: on normalised observations with the
    collector's statistics as they are now (frozen), when the run normalises them."""
    normalizer = collector.normalizer
    if normalizer is None:
        return policy
    return cast(Policy, ObservationNormalizedPolicy(policy, normalizer))


@dataclass(frozen=True)
class RunStart:
    """Where one of several runs learned together starts (`runs = [RunStart, ...]`)."""

    seed: int | None
    policy: Policy
    value: ValueFunction | None = None


@dataclass(frozen=True)
class RunBatch:
    """A run's batch at an update, with its policy, critic and update state: what its
    `improve` takes."""

    policy: Policy
    critic: ValueFunction | None
    batch: FragmentBatch
    state: UpdateState[Any]


ImproveTogether = Callable[[Sequence[RunBatch]], list[dict[str, float]]]
"""improve_together(steps) -> each run's statistics: `Improve` of several runs at the same
update, their network updates made one call where the backend can (JAX: vmap); run k
ends where its own `improve` would have taken it."""


def train_on_policy(
    name: str,
    improve: Improve,
    inputs: Inputs,
    *,
    needs_critic: bool,
    improve_together: ImproveTogether | None = None,
) -> RunResult:
    """Learn `inputs.runs` runs of `name` (the policies and critics given are copied, not
    modified): one, or R together, update by update, each with its own collector.

    Args:
      name: the algorithm's name, for messages.
      improve: the algorithm's update (`Improve`).
      inputs: the algorithm's arguments (env, policy, config, value, seed, runs, callback,
        resume). `runs`: None or 1 for one run; R > 1 for R runs, run k from the policy
        and critic given with seed spawn k of `seed`; or a list of `RunStart`.
      needs_critic: whether `value` must be given.
      improve_together: the update of several runs at once; None: `improve` run by run.
    """
    starts = run_starts(name, inputs)
    with one_blas_thread():  # small matrices: more BLAS threads only add synchronisation
        if starts is None:
            return _train_on_policy(name, improve, inputs, needs_critic)
        if inputs.resume is not None:
            raise ValueError(
                f"`resume` continues one run of {name}; this call learns {len(starts)} "
                "together (resume each run on its own)"
            )
        if inputs.config.collection == "ray":
            raise ValueError(
                f"`runs` must be 1 with collection = 'ray' ({len(starts)} runs together would "
                "start a set of Ray workers each); learn the runs one after another "
                "(gradlogpi train does) or collect with 'steps' or 'episodes'"
            )
        together = improve_together or functools.partial(one_after_another, improve)
        return _train_together(name, together, inputs, needs_critic, starts)


def run_starts(name: str, inputs: Inputs) -> list[RunStart] | None:
    """The runs to learn together, or None for one run."""
    runs = inputs.runs
    if runs is None or (isinstance(runs, (int, np.integer)) and not isinstance(runs, bool)):
        count = 1 if runs is None else int(runs)
        if count < 1:
            raise ValueError(f"`runs` must be a positive number of runs; got {runs!r}")
        if count == 1:
            return None
        seeds = np.random.SeedSequence(inputs.seed).spawn(count)
        return [
            RunStart(int(seed.generate_state(1)[0]), inputs.policy, inputs.value) for seed in seeds
        ]
    if isinstance(runs, (list, tuple, range)) and list(runs) == [0]:
        return None  # the run ids of one run, as the book's algorithms take them
    starts = list(runs) if isinstance(runs, (list, tuple)) else []
    if not starts or not all(isinstance(start, RunStart) for start in starts):
        raise TypeError(
            f"`runs` must be None, a number of runs or a list of RunStart for {name}; got {runs!r}"
        )
    return starts


def one_after_another(improve: Improve, steps: Sequence[RunBatch]) -> list[dict[str, float]]:
    """`ImproveTogether` from `Improve`: each run's update in turn."""
    return [improve(step.policy, step.critic, step.batch, step.state) for step in steps]


class NetworkUpdate(NamedTuple):
    """One run's network update, prepared by an algorithm: what `maximize_minibatches`
    takes, and what follows it."""

    minibatches: RunMinibatches
    objective: Objective
    settings: dict[str, float]
    ascent: Ascent
    finish: Callable[[int], dict[str, float]]
    """epochs run -> the run's statistics (after refitting a critic not trained jointly)."""


def network_updates(
    improve: Improve, prepare: Callable[[RunBatch], NetworkUpdate], runs: Sequence[RunBatch]
) -> list[dict[str, float]]:
    """`ImproveTogether` of an algorithm whose network update is one `maximize_minibatches`
    call: each run `prepare`d, then one call for all of them where the backend can
    (`maximize_minibatches_of_runs`), then each run's `finish`. Array policies take
    `improve` one run after another."""
    if not all(isinstance(run.policy, NetworkPolicy) for run in runs):
        return one_after_another(improve, runs)
    prepared = [prepare(run) for run in runs]
    first = prepared[0]
    for k, update in enumerate(prepared):
        if (update.objective, update.settings, update.ascent) != (
            first.objective,
            first.settings,
            first.ascent,
        ):
            raise ValueError(
                "`runs` learned together must update with one objective, its settings and "
                f"ascent; run {k} differs from run 0 (e.g. one trains its critic jointly, "
                "the other does not)"
            )
    epochs = maximize_minibatches_of_runs(
        [update.minibatches for update in prepared], first.objective, first.settings, first.ascent
    )
    return [update.finish(run_epochs) for update, run_epochs in zip(prepared, epochs, strict=True)]


class OnPolicyRun:
    """One run of the loop: its policy and critic (copies), its collector on its own
    vector env, its random stream and the episodes it finished."""

    def __init__(self, env_id: str, config: CollectionConfig, start: RunStart):
        self.policy, self.value = copy.deepcopy(start.policy), copy.deepcopy(start.value)
        self.seed, self.config = start.seed, config
        self.random = np.random.default_rng(np.random.SeedSequence(start.seed).spawn(2)[1])
        self.record = EpisodeRecord()
        self.collector = make_collector(env_id, config, self.policy, start.seed)
        self.learning = True
        self.snapshot: Snapshot | None = None

    def collect(self, update: int) -> tuple[RunBatch, FinishedEpisodes]:
        """Update `update`'s batch (its finished episodes recorded) and what `improve`
        takes; also the finished episodes, for the report."""
        batch, finished = self.collector.collect(self.policy, update)
        self.record.add(finished.returns, finished.lengths, finished.truncated)
        fraction = step_size(1.0, self.config.schedule, update, self.config.n_updates)
        state = UpdateState(update, fraction, self.config, self.random)
        return RunBatch(self.policy, self.value, batch, state), finished

    def report(
        self,
        update: int,
        finished: FinishedEpisodes,
        statistics: dict[str, float],
        callback: Callback | None,
        run: int | None = None,
    ) -> None:
        """Tell the callback about the update (runs learned together: which `run`, no
        snapshot); learning ends here if it raises `StopTraining`."""
        if callback is None:
            return
        if run is None:
            self.snapshot = Snapshot(
                update, self.policy, self.value, self.record, self.random, self.collector
            )
        end = EpisodeEnd(
            update,
            finished.returns,
            finished.lengths,
            finished.truncated,
            acting(self.policy, self.collector),
            self.snapshot,
            run=run,
            statistics=statistics,
        )
        try:
            callback(end)
        except StopTraining:
            self.learning = False

    def result(self) -> RunResult:
        """The run's `RunResult` (with its observation statistics, if it normalised)."""
        result = self.record.result(self.policy, self.value, self.seed, self.config)
        if self.collector.normalizer is not None:
            result.extra["observation_normalizers"] = [self.collector.normalizer.frozen()]
        return result


def _train_on_policy(name: str, improve: Improve, inputs: Inputs, needs_critic: bool) -> RunResult:
    env_id = checked_env_id(name, inputs, needs_critic)
    config, callback, resume = inputs.config, inputs.callback, inputs.resume
    run = OnPolicyRun(env_id, config, RunStart(inputs.seed, inputs.policy, inputs.value))
    try:
        first_update = 0
        if resume is not None:
            first_update = restore_state(resume, run.policy, run.value, None, run.record)
            restore_loop_state(resume, run.value, run.random, run.collector)
            if run.collector.restarted:
                warnings.warn(
                    f"{env_id} cannot be snapshotted: the episodes in flight at update "
                    f"{first_update} restart",
                    stacklevel=3,
                )
        for update in range(first_update, config.n_updates):
            step, finished = run.collect(update)
            statistics: dict[str, float] = {}
            if not update_kept_finite(
                run.policy, functools.partial(_improve_into, statistics, improve, step)
            ):
                run.record.diverged_at = update
                break
            run.report(update, finished, statistics, callback)
            if not run.learning:
                break
        if run.snapshot is not None:
            run.snapshot()  # taken now: the final checkpoint asks after the envs are closed
    finally:
        run.collector.close()
    return run.result()


def _train_together(
    name: str,
    improve_together: ImproveTogether,
    inputs: Inputs,
    needs_critic: bool,
    starts: list[RunStart],
) -> RunResult:
    """R runs update by update: each collects its batch, then one `improve_together` for
    all still learning (a run that diverges or is stopped drops out), then each reports."""
    env_id = vector_env_id(inputs.env)
    for start in starts:  # every run's policy and critic fit the environment
        run_inputs = dataclasses.replace(inputs, policy=start.policy, value=start.value)
        checked_env_id(name, run_inputs, needs_critic)
    config, callback = inputs.config, inputs.callback
    runs: list[OnPolicyRun] = []
    try:
        for start in starts:
            runs.append(OnPolicyRun(env_id, config, start))
        for update in range(config.n_updates):
            learning = [k for k, run in enumerate(runs) if run.learning]
            if not learning:
                break
            collected = [runs[k].collect(update) for k in learning]
            steps = [step for step, _ in collected]
            statistics: list[dict[str, float]] = []
            kept = kept_finite_each(
                [step.policy for step in steps],
                functools.partial(_improve_together_into, statistics, improve_together, steps),
            )
            reports = zip(learning, collected, kept, statistics, strict=True)
            for k, (_, finished), finite, run_statistics in reports:
                if not finite:
                    runs[k].record.diverged_at = update
                    runs[k].learning = False
                    continue
                runs[k].report(update, finished, run_statistics, callback, k)
    finally:
        for run in runs:
            run.collector.close()
    results = [run.result() for run in runs]
    return stacked_results(results, inputs.seed, max(r.wall_time for r in results))


def checked_env_id(name: str, inputs: Inputs, needs_critic: bool) -> str:
    """The vector envs' id, after checking the policy fits the environment, the critic is
    there when needed and an episode cap is known where collection needs one."""
    if needs_critic and inputs.value is None:
        raise ValueError(
            f"`value` must be a critic for {name} (e.g. LinearValue(RawState(k))); got None"
        )
    env_id = vector_env_id(inputs.env)
    probe = make_env(env_id)
    config = inputs.config
    cap = config.max_episode_steps or (probe.spec.max_episode_steps if probe.spec else None)
    check_policy_fits_env(inputs.policy, probe)
    probe.close()
    if cap is None and config.collection == "episodes":
        raise ValueError(
            f"`max_episode_steps` must be given for {env_id} (no registered cap); got None"
        )
    return env_id


def kept_finite_each(policies: Sequence[Policy], update: Callable[[], object]) -> list[bool]:
    """Run `update`, which changes every policy in place; each policy it leaves with a
    non-finite θ goes back to its θ (and optimiser state) before. Returns, per policy,
    whether its update was kept."""
    saved = [(policy.get_flat(), optimizer_of(policy)) for policy in policies]
    update()
    kept = []
    for policy, (theta, optimizer) in zip(policies, saved, strict=True):
        finite = bool(np.all(np.isfinite(policy.get_flat())))
        if not finite:
            policy.set_flat(theta)
            if optimizer is not None and isinstance(policy, NetworkPolicy):
                policy.load_optimizer_state(*optimizer)
        kept.append(finite)
    return kept


def optimizer_of(policy: Policy) -> tuple[dict[str, np.ndarray], list[Any]] | None:
    """A network policy's optimiser state (copied), None for an array policy."""
    if not isinstance(policy, NetworkPolicy):
        return None
    arrays, groups = policy.optimizer_state()
    return {name: np.array(array) for name, array in arrays.items()}, copy.deepcopy(groups)


def _improve_into(statistics: dict[str, float], improve: Improve, step: RunBatch) -> None:
    statistics.update(improve(step.policy, step.critic, step.batch, step.state))


def _improve_together_into(
    statistics: list[dict[str, float]],
    improve_together: ImproveTogether,
    steps: Sequence[RunBatch],
) -> None:
    statistics.extend(improve_together(steps))


class Snapshot:
    """() -> the state after `update`, taken when first asked (a checkpoint is due) and
    kept: the loop takes the last one before it closes the collector."""

    def __init__(
        self,
        update: int,
        policy: Policy,
        value: ValueFunction | None,
        record: EpisodeRecord,
        random: np.random.Generator,
        collector: Collector,
    ):
        self.sources = (update, policy, value, record, random, collector)
        self.taken: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        if self.taken is None:
            update, policy, value, record, random, collector = self.sources
            state = capture_state(update, policy, value, None, record)
            arrays = with_prefix(collector.get_state(), "collector_")
            extra: dict[str, Any] = {"random": random.bit_generator.state}
            if value is not None:
                critic_arrays, extra["critic"] = value.training_state()
                arrays.update(with_prefix(critic_arrays, "critic_"))
            state["arrays"], state["extra"] = arrays, extra
            self.taken = state
        return self.taken


def restore_loop_state(
    state: dict[str, Any],
    value: ValueFunction | None,
    random: np.random.Generator,
    collector: Collector,
) -> None:
    """Put back what `Snapshot` added to `capture_state`'s state."""
    arrays, extra = state.get("arrays", {}), state.get("extra") or {}
    if "random" in extra:
        random.bit_generator.state = extra["random"]
    collector.set_state(under_prefix(arrays, "collector_"))
    if value is not None and "critic" in extra:
        value.load_training_state(
            under_prefix(arrays, "critic_"),
            extra["critic"],
        )
