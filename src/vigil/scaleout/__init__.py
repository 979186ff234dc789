"""Scale-out: camera workers that share cameras through PostgreSQL leases and publish alerts on the bus."""
