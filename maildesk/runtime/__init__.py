"""Running the desk: composition, the daemon and its processes, batching, the timer sweep, backlog import."""
