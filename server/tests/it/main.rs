mod etapi;
