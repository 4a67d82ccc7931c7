"""Running work: the scheduler (in the server) and the executors it drives.

The scheduler decides what runs when; an `Executor` runs it. The scheduler never
starts a process itself, so another executor (a Ray cluster) can replace the local one.
"""
