"""The execution engine of the stages: `local` (this process, the default) or `dask` (a cluster, by customer)."""
