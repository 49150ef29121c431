"""Run one worker's command and start it again when it fails: the restart half of fault tolerance.

A synchronous multi-worker job (MultiWorkerMirroredStrategy) cannot lose a worker and go on: when one
dies, the others fail in their next collective (an `UnavailableError` from the lost peer). Training is made fault tolerant by restarting the workers and
resuming from the last checkpoint, which `bert-tf pretrain` does by itself (all workers restore the
chief's latest checkpoint). This script is that restart loop, for hosts that have no cluster manager
doing it (a Kubernetes Job does it with `restartPolicy: OnFailure`):

    python -m pipelines.recipes.supervise --max-restarts 5 -- bert-tf pretrain --strategy multi_worker ...

It passes the environment (TF_CONFIG) through, returns the command's final exit status, and stops
restarting after `--max-restarts` failures or on exit status 2 (a usage or data error: restarting
would only fail the same way).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

NO_RETRY = (2,)  # bert-tf's "error the user must fix" status


def supervise(command: list[str], max_restarts: int = 5, delay_s: float = 2.0, name: str = "worker",
              log=None, env=None, stats: dict | None = None) -> int:
    """Run `command` until it exits 0, restarting it up to `max_restarts` times; returns its status
    (and counts the restarts in `stats["restarts"]` when given a dict)."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    restarts = 0
    child: list[subprocess.Popen] = []

    def forward(signum, _frame):  # stop the child too, and do not restart it
        if child:
            child[0].send_signal(signum)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)} \
        if _main_thread() else {}
    try:
        while True:
            started = time.time()
            child[:] = [subprocess.Popen(command, env=env)]
            status = child[0].wait()
            if status == 0:
                log(f"[supervise {name}] finished after {restarts} restart(s)")
                return 0
            how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
            if status in NO_RETRY:
                log(f"[supervise {name}] {how}: an error restarting cannot fix; not restarting")
                return status
            if restarts >= max_restarts:
                log(f"[supervise {name}] {how}; gave up after {restarts} restart(s)")
                return status if status > 0 else 128 - status
            restarts += 1
            if stats is not None:
                stats["restarts"] = restarts
            log(f"[supervise {name}] {how} after {time.time() - started:.0f} s; restart {restarts} of "
                f"{max_restarts} in {delay_s:.0f} s (it resumes from the last checkpoint)")
            time.sleep(delay_s)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def restart_options(description: str, delay: float) -> argparse.ArgumentParser:
    """The flags this script and `local_cluster.py` share: restarts, delay, and the command after `--`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-restarts", type=int, default=5)
    parser.add_argument("--delay", type=float, default=delay, help=f"seconds before a restart (default {delay:g})")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the worker's command")
    return parser


def command_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the worker's command after --")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = restart_options(__doc__, delay=5.0)
    parser.add_argument("--name", default="worker")
    args = parser.parse_args(argv)
    return supervise(command_of(parser, args), args.max_restarts, args.delay, args.name)


if __name__ == "__main__":
    sys.exit(main())
