-- Every intake request writes an inbound_events row, and each index on it is
-- written with it. Nothing reads by received_at (ids are ULIDs: time order is
-- id order), so this index only cost intake throughput.
DROP INDEX IF EXISTS inbound_events_received;
