DROP TRIGGER composes_announce_change ON composes;
DROP FUNCTION odcs_announce_compose_change();
