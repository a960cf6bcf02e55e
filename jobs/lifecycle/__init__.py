"""Job lifecycle: dispatch and reconcile, the queue, status transitions, events in, specs out."""
