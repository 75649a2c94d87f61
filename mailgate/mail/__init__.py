"""Pure mail handling: parsing, normalising, classifying and token minting; no I/O, no database."""
