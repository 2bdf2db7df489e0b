"""The knowledge base."""

# The life of an article (SPEC section 11): only "published" ever leaves the desk.
ARTICLE_STATUSES = ("draft", "published", "retired")
