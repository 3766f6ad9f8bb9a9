"""The per-cluster virtual clock: play, pause, speed, and a manual mode for tests.

Sim time is ``sim_seconds`` plus wall time elapsed since ``anchor`` times ``speed``
while playing; in manual mode (speed 0) it moves only when told to.
"""

from __future__ import annotations

import datetime as dt
import time

from cluster.models import Cluster

MIN_SPEED = 0.25
MAX_SPEED = 64.0


def sim_seconds(cluster: Cluster, wall: float | None = None) -> float:
    if cluster.clock_paused or cluster.clock_speed == 0:
        return cluster.sim_seconds
    wall = time.time() if wall is None else wall
    return cluster.sim_seconds + max(0.0, wall - cluster.clock_anchor) * cluster.clock_speed


_LAST_NOW: tuple[dt.datetime | None, float, dt.datetime | None] = (None, 0.0, None)


def sim_now(cluster: Cluster, wall: float | None = None) -> dt.datetime:
    """The sim time as a datetime; a step of the loops asks for one instant many times, so the
    last answer is kept (datetimes are immutable)."""
    global _LAST_NOW
    epoch = cluster.sim_epoch
    seconds = sim_seconds(cluster, wall)
    last_epoch, last_seconds, moment = _LAST_NOW
    if moment is None or seconds != last_seconds or (epoch is not last_epoch and epoch != last_epoch):
        moment = epoch + dt.timedelta(seconds=seconds)
        _LAST_NOW = (epoch, seconds, moment)
    return moment


_LAST_RFC3339: tuple[dt.datetime | None, str] = (None, "")


def rfc3339(moment: dt.datetime) -> str:
    """The second-precision UTC form the apiserver writes for metav1.Time.

    A step of the loops stamps many objects at one sim instant, so the last answer is kept.
    """
    global _LAST_RFC3339
    last, text = _LAST_RFC3339
    if moment != last:
        text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _LAST_RFC3339 = (moment, text)
    return text


def parse_rfc3339(text: str) -> dt.datetime:
    return dt.datetime.strptime(text.replace("Z", "+00:00")[:25], "%Y-%m-%dT%H:%M:%S%z")


def _fold(cluster: Cluster, wall: float) -> None:
    """Bank the sim time elapsed so far, so a change of speed or pause never jumps the clock."""
    cluster.sim_seconds = sim_seconds(cluster, wall)
    cluster.clock_anchor = wall


def set_speed(cluster: Cluster, speed: float) -> None:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
    wall = time.time()
    _fold(cluster, wall)
    cluster.clock_speed = speed
    cluster.save(update_fields=["sim_seconds", "clock_anchor", "clock_speed"])


def pause(cluster: Cluster) -> None:
    wall = time.time()
    _fold(cluster, wall)
    cluster.clock_paused = True
    cluster.save(update_fields=["sim_seconds", "clock_anchor", "clock_paused"])


def resume(cluster: Cluster) -> None:
    cluster.clock_anchor = time.time()
    cluster.clock_paused = False
    cluster.save(update_fields=["clock_anchor", "clock_paused"])


def fast_forward(cluster: Cluster) -> float:
    """Jump sim time to the control plane's next timer (as the runtime last reported it)."""
    wall = time.time()
    _fold(cluster, wall)
    if cluster.next_timer is not None and cluster.next_timer > cluster.sim_seconds:
        cluster.sim_seconds = cluster.next_timer
    cluster.save(update_fields=["sim_seconds", "clock_anchor"])
    return cluster.sim_seconds


def state(cluster: Cluster) -> dict[str, object]:
    return {
        "cluster": cluster.name,
        "simSeconds": round(sim_seconds(cluster), 3),
        "simTime": rfc3339(sim_now(cluster)),
        "speed": cluster.clock_speed,
        "paused": cluster.clock_paused,
        "nextTimer": cluster.next_timer,
    }
