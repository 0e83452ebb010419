"""The demo city: `cityos demo seed --scale S|M|L [--seed N]`.

One module that every context extends: a context adds a step with `@seed_step`,
and the seed runs the steps in order, each with the same scale and seed, each
reporting progress. Steps are deterministic for a given seed.
"""
