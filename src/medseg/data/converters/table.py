"""The converter table: each ``medseg convert`` name -> the module that registers it.

One line per converter, in the order ``medseg convert --help`` lists them. It is all
:data:`~medseg.data.converters.registry.CONVERTERS` needs to know a converter before its module is
imported: ``convert_dataset(name, ...)`` imports the module on first use. This module imports
nothing.
"""

CONVERTER_MODULES: dict[str, str] = {
    "ircadb": "medseg.data.converters.ircadb",
    "dicom": "medseg.data.converters.dicom",
    "nnunet": "medseg.data.converters.nnunet",
}
