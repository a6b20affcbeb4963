"""Instance faults and network latency through generated FIS experiments
(``instance_faults = "fis"``, and ``Latency`` on an AWS target whatever that setting).

Each fault is one experiment whose targets are exactly the chosen instances' ARNs
(``fis_builders``), created with the environment's role, stop alarms and run id tag:

- terminate and reboot are over in a moment: injecting waits until the experiment has
  completed, then deletes its template; the target's revert waits for capacity, as with EC2;
- stop tags the instances ``chaoskit:stopped-by-run`` first (so that the run, and
  ``chaoskit recover``, find them as they find stops made through EC2), then runs the
  experiment with ``startInstancesAfterDuration`` = the hold: FIS starts them again by itself
  if chaoskit is gone. Removing it stops the experiment, waits until it has ended, deletes the
  template and starts the instances still stopped;
- latency sends AWSFIS-Run-Network-Latency through SSM for the hold; removing it stops the
  experiment (FIS cancels the command, which takes the delay away).

A fault held until reverted rather than for a hold is bounded by ``UNHELD_BOUND``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaoskit.errors import ChaoskitError, ConfigError, RevertError
from chaoskit.faults.fis_builders import InstanceAction, instance_template, latency_template
from chaoskit.providers.aws.fis_runner import FisExperimentRun
from chaoskit.providers.aws.instance_actions import (
    INSTANCE_ACTIONS,
    ActionContext,
    ActionRecord,
)
from chaoskit.providers.aws.stopping import tag_stopped_by
from chaoskit.vocabulary import FisTemplateBody, NetworkFault

# How long an experiment may take to start running (FIS resolves targets first) and a
# termination or reboot to complete.
EXPERIMENT_TIMEOUT = 120.0
# How long an action lasts when the fault is held until reverted rather than for a hold.
UNHELD_BOUND = 600.0


@dataclass(kw_only=True)
class _Held:
    run: FisExperimentRun | None
    restarts: tuple[str, ...]  # instances to start again once the experiment has ended


@dataclass(kw_only=True)
class FisInstanceActions:
    context: ActionContext
    timeout: float = EXPERIMENT_TIMEOUT
    _held: dict[str, _Held] = field(default_factory=dict)
    _handles: itertools.count[int] = field(default_factory=itertools.count)

    def check(self, action: str) -> None:
        self.context.fis.check(INSTANCE_ACTIONS.get(action, action))

    def terminate(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self._over_in_a_moment("terminate", instance_ids, record)

    def reboot(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self._over_in_a_moment("reboot", instance_ids, record)

    def stop(self, instance_ids: Sequence[str], record: ActionRecord) -> str:
        ids = list(instance_ids)
        template = instance_template(
            "stop",
            self._arns(ids, "StopInstances"),
            description=self._description(record, "StopInstances", ids),
            restart_after=self._bound(record),
        )
        handle = f"fis-stop/{next(self._handles)}"
        tag_stopped_by(self.context.clients, ids, run_id=self.context.run_id)
        # Held before the experiment starts: a start that fails half-way is undone by remove.
        self._held[handle] = _Held(run=None, restarts=tuple(ids))
        try:
            run = self._run(template, record, "StopInstances")
        except ChaoskitError as error:
            try:
                self.remove(handle)
            except ChaoskitError as cleanup:
                raise RevertError(
                    f"StopInstances through FIS on {', '.join(ids)} failed ({error}), and "
                    f"starting them again failed too ({cleanup}); they may be stopped: start "
                    f"them (aws ec2 start-instances), or run chaoskit recover."
                ) from error
            raise
        except BaseException as interrupted:
            # Ctrl-C or SIGTERM: the runner stopped the experiment; start what it stopped.
            try:
                self.remove(handle)
            except ChaoskitError as cleanup:
                interrupted.add_note(
                    f"chaoskit: starting {', '.join(ids)} again failed ({cleanup}); they may "
                    f"be stopped: start them (aws ec2 start-instances), or run chaoskit recover."
                )
            raise
        self._held[handle].run = run
        record.restarts = tuple(ids)
        return handle

    def latency(
        self,
        instance_ids: Sequence[str],
        fault: NetworkFault,
        record: ActionRecord,
        *,
        sources: Sequence[str] = (),
    ) -> str:
        """``fault`` (a latency) on the instances' network through SSM, limited to the
        traffic with ``sources`` when given; a handle for remove."""
        if fault.direction != "downstream" or fault.toxicity < 1:
            raise ConfigError(
                f"Latency(direction={fault.direction!r}, toxicity={fault.toxicity:g}) on AWS: "
                f"FIS's AWSFIS-Run-Network-Latency delays everything an instance sends "
                f"(direction='downstream', toxicity=1, the defaults); use those, or the local "
                f"environment's proxy for the others."
            )
        ids = list(instance_ids)
        bound = self._bound(record)
        template = latency_template(
            self._arns(ids, "Latency"),
            description=self._description(record, "Latency", ids),
            delay=fault.delay,
            jitter=fault.jitter,
            sources=sources,
            duration=bound,
        )
        handle = f"fis-latency/{next(self._handles)}"
        self._held[handle] = _Held(run=self._run(template, record, "Latency"), restarts=())
        return handle

    def remove(self, handle: str) -> None:
        held = self._held.get(handle)
        if held is None:
            return
        if held.run is not None:
            held.run.revert()  # RevertError naming the experiment when it cannot stop it
        if held.restarts:
            self.context.start_again(held.restarts)
        del self._held[handle]

    def active(self) -> list[str]:
        return list(self._held)

    def _over_in_a_moment(
        self, action: InstanceAction, instance_ids: Sequence[str], record: ActionRecord
    ) -> None:
        fault = INSTANCE_ACTIONS["terminate" if action == "terminate" else "reboot_instances"]
        ids = list(instance_ids)
        template = instance_template(
            action, self._arns(ids, fault), description=self._description(record, fault, ids)
        )
        run = self._run(template, record, fault)
        run.wait_completed(self.timeout)
        run.revert()  # it has ended: this deletes its template

    def _run(self, template: FisTemplateBody, record: ActionRecord, fault: str) -> FisExperimentRun:
        run = self.context.fis.service(fault).run_fis(template, timeout=self.timeout)
        record.run = run
        return run

    def _arns(self, instance_ids: Sequence[str], fault: str) -> list[str]:
        role = self.context.fis.service(fault).settings.role_arn
        partition = role.split(":")[1]
        return [
            f"arn:{partition}:ec2:{self.context.settings.region}:{self.context.fis.account}:"
            f"instance/{instance_id}"
            for instance_id in instance_ids
        ]

    @staticmethod
    def _bound(record: ActionRecord) -> float:
        # FIS's shortest action is a minute: a shorter hold still ends at the revert.
        return UNHELD_BOUND if record.hold is None else max(1.0, record.hold)

    @staticmethod
    def _description(record: ActionRecord, fault: str, instance_ids: Sequence[str]) -> str:
        return f"chaoskit: {record.fault or f'{fault} on ' + ', '.join(instance_ids)}"
