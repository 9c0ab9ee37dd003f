-- A message being sent is leased by the node sending it, renewed while it sends: when a node
-- dies, another one sending for the same channel takes the message once the lease runs out
-- (the node itself, restarted, takes its own back at once).
ALTER TABLE outbox ADD COLUMN sending_node text, ADD COLUMN lease_until timestamptz;
