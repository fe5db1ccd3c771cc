"""LightningDataModules, one per data set, and the vocabularies they build.

The one mechanism for sizes the data decides: after `setup()`, every DataModule has `spec`, a dict
of plain Python data (alphabet, labels, ...). `src/train.py` passes it to the LightningModule as
`spec=`; the module sizes its layers from it and saves it in every checkpoint.
"""
