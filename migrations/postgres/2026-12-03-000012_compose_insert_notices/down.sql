DROP TRIGGER composes_announce_insert ON composes;
DROP FUNCTION odcs_announce_compose_insert();
