"""The reader table: each layout name -> the module whose ``@READERS.register(name)`` defines it.

One line per layout. It is all :data:`~medseg.data.readers.registry.READERS` needs to know a layout
before its module is imported: ``medseg check --help`` lists these names, a config's
``data.layout`` is checked against them, and ``read_dataset(name, ...)`` imports the module on
first use. This module imports nothing.
"""

READER_MODULES: dict[str, str] = {
    "bone_scan": "medseg.data.readers.bone_scan",
    "ct": "medseg.data.readers.ct",
    "cvc_clinicdb": "medseg.data.readers.cvc",
    "dicom": "medseg.data.readers.dicom",
    "folder": "medseg.data.readers.folder",
    "hc18": "medseg.data.readers.hc18",
    "ircadb": "medseg.data.readers.ircadb",
    "kvasir": "medseg.data.readers.kvasir",
    "lidc": "medseg.data.readers.lidc",
    "msd": "medseg.data.readers.nifti",
    "nifti": "medseg.data.readers.nifti",
    "nnunet": "medseg.data.readers.nnunet",
}
