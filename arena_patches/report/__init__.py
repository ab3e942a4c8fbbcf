"""Reports: JSON, text, and files (Markdown, HTML, JUnit, a reply mail)."""
