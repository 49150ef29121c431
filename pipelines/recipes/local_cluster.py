"""The multi-worker recipes on one machine: N workers on loopback, each under its own restart loop.

This is the local equivalent of the cluster recipes (docs/multi_host_training.md): the same
`TF_CONFIG` each host would get, the same `bert-tf pretrain --strategy multi_worker` command and the
same per-worker restart loop (`supervise.py`), with `localhost:<port>` for the hosts. CI runs it with
two workers and kills one mid-run (tests/test_multi_worker_recipes.py).

    python -m pipelines.recipes.local_cluster --workers 2 -- \\
        bert-tf pretrain --strategy multi_worker --config bert_config.json --input 'data/*.tfrecord' \\
        --model-dir runs/two_workers --train-batch-size 32 --num-train-steps 200

Ports are picked free at start and kept across restarts (a restarted worker must be found at the
same address). Exit status: 0 when every worker finished, else the first failing worker's.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

from pipelines.recipes.supervise import command_of, restart_options, supervise


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(hosts: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})


def run_local_cluster(command: list[str], workers: int = 2, max_restarts: int = 5, delay_s: float = 2.0,
                      env: dict | None = None) -> int:
    hosts = [f"localhost:{port}" for port in free_ports(workers)]
    print(f"[local cluster] {workers} workers: {', '.join(hosts)}", file=sys.stderr, flush=True)
    statuses: dict[int, int] = {}
    restarts = {index: {"restarts": 0} for index in range(workers)}
    started = time.time()

    def run(index: int) -> None:
        worker_env = dict(env or os.environ, TF_CONFIG=tf_config(hosts, index))
        statuses[index] = supervise(command, max_restarts, delay_s, name=f"worker-{index}", env=worker_env,
                                    stats=restarts[index])

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [i for i in range(workers) if statuses.get(i, 1) != 0]
    outcome = "all workers finished" if not failed else f"worker(s) {failed} failed"
    total = sum(r["restarts"] for r in restarts.values())
    print(f"[local cluster] {outcome} in {time.time() - started:.0f} s, {total} restart(s)", file=sys.stderr,
          flush=True)
    return statuses[failed[0]] if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = restart_options(__doc__, delay=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    return run_local_cluster(command_of(parser, args), args.workers, args.max_restarts, args.delay)


if __name__ == "__main__":
    sys.exit(main())
