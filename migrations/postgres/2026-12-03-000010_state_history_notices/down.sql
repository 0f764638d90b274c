DROP TRIGGER messages_announce_history ON messages;
DROP FUNCTION odcs_announce_state_history();
