"""Ground-truth quality benchmark: synthetic reenactment clips built from real portraits.

``synth`` moves a masked person over the portrait's own background and adds reenactment
defects to the background only (so the truth is known); ``segfuse.research.scoring`` measures a
repair against that truth; ``recipe`` is the paper's plain recipe, the baseline every repair is compared with.
"""
