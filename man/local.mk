# Man pages: one line per page, each component appends its own.
dist_man_MANS += man/shoal.7
dist_man_MANS += man/shoal.conf.5
dist_man_MANS += man/shoal-admin.8
dist_man_MANS += man/shoal-master.8
dist_man_MANS += man/bs_shoal.8
dist_man_MANS += man/shoal-chunkserver.8
