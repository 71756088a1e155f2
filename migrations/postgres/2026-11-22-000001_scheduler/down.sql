DROP TABLE calendar_tokens;
DROP TABLE messages;
DROP TABLE webhook_subscriptions;
DROP TABLE prompts;
