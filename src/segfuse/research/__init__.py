"""Research code beside the application: the evaluation report (``segfuse eval``), the demo on the
built-in sample, the ground-truth quality benchmark and every score they print (``scoring``).

The runtime and the nodes never import it: rendering a graph needs nothing from here.
"""
