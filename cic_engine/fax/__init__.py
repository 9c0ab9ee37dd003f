"""Fax documents and results: TIFF in, PDF for the inbox; PDF out, fax TIFF for txfax; the
result events of FreeSWITCH's mod_spandsp read into one outcome."""
