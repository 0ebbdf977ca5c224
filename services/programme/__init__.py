"""The programme results report (section 13 of the memorandum: "Summarizing Success")."""
