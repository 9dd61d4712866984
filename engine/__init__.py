"""The execution engine of the stages: `local` (one process, the default) or `dask` (a cluster, partitioned by customer)."""
