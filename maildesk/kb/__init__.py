"""The knowledge base."""

from maildesk.states import ArticleStatus

# The life of an article (SPEC section 11): only "published" ever leaves the desk.
ARTICLE_STATUSES = tuple(ArticleStatus)
