"""Every router of the admin and feedback API, in one list the app factory includes (bot/app.py)."""

from fastapi import APIRouter

from bot.api import (
    actions,
    assist,
    audit,
    console,
    conversations,
    customers,
    documents,
    faqs,
    feedback,
    insights,
    models,
    search,
    webhook_subscriptions,
)

API_ROUTERS: tuple[APIRouter, ...] = (
    feedback.router, faqs.router, actions.router, search.router, audit.router, documents.router,
    conversations.router, models.router, assist.router, insights.router, customers.router,
    console.me_router, console.router,  # the support console's pages (bot/static/console)
    webhook_subscriptions.router,
)
