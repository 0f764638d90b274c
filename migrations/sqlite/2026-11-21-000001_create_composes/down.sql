DROP TABLE composes;
