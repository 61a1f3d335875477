"""The engine: row blocks of numpy or dask input and the passes over them.

Model-agnostic; imports no model. A pass maps a pure block kernel over the
row blocks and adds the block statistics in a fixed tree (bit-identical on
numpy, dask's threads and a distributed cluster); mini-batches are windows of
rows; the statistics containers, the thread pool and the BLAS guard live here.
"""
