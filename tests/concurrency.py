"""Running commands from several threads at the same instant, for concurrency tests."""

import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy.orm import Session

from core.errors import ErpError
from tests.world import World


def all_at_once(world: World, commands: list[Callable[[Session], object]]) -> Counter[str]:
    """Run the commands in parallel threads from one barrier; count outcomes by error code."""
    start = threading.Barrier(len(commands))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client(command: Callable[[Session], object]) -> None:
        start.wait()
        try:
            world.run(command)
            outcome = "ok"
        except ErpError as error:
            outcome = error.code
        except Exception as error:
            outcome = f"error: {type(error).__name__}: {error}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
