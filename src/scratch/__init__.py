"""The course's networks from scratch in NumPy, with hand-written backpropagation through time:
`python -m src.scratch srn|binary`. No torch inside `srn.py`; the commands use torch only to show
that it computes the same numbers."""
