"""Jobs: the queue the pages submit to, the executors that train its jobs, and the events
they send back. The manager and the protocol import no torch; the worker does."""
